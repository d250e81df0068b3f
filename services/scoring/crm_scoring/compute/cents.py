"""Float figures to whole cents (or other decimal places), rounded exactly as PostgreSQL's round(x::numeric, 2)
rounds them.

PostgreSQL turns a float8 into numeric through its 15-significant-digit text (DBL_DIG), then rounds half away
from zero: 1.015 (stored as 1.01499999999999990...) reads "1.015" and rounds to 1.02, where rounding the
binary value would give 1.01. A value rounds up when it is at or past the half cent, or when its 15-digit
form is the half cent itself: within half a unit of its 15th digit of it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np

NO_CENTS = -9_223_372_036_854_775_807  # NaN (no figure): stored as NULL; below any numeric(14, 2) in cents
DIGITS = 15  # PostgreSQL's float8 -> numeric keeps DBL_DIG significant digits


def cents(values: np.ndarray) -> np.ndarray:
    """int64 cents of float values (NaN -> NO_CENTS)."""
    return rounded(values, 2)


def rounded(values: np.ndarray, places: int) -> np.ndarray:
    """int64 units of 10^-places of float values, as round(x::numeric, places) gives them (NaN -> NO_CENTS)."""
    x = np.asarray(values, dtype=np.float64)
    missing = np.isnan(x)
    x = np.where(missing, 0.0, x)
    scaled = np.abs(x) * 10.0**places
    whole = np.floor(scaled)
    half = whole + 0.5
    # The half unit written with 15 significant digits: a value that close to it prints as it.
    tolerance = 0.5 * 10.0 ** (np.floor(np.log10(half)) - (DIGITS - 1))
    up = (scaled >= half) | (half - scaled <= tolerance)
    out = (np.where(up, whole + 1.0, whole) * np.sign(x)).astype(np.int64)
    out[missing] = NO_CENTS  # set as an integer: NO_CENTS has no exact float
    # From 10^(14 - places) up, 15 digits no longer reach the last place (1e13 reads "1e+13"): each one as
    # PostgreSQL does it.
    unit = Decimal(1).scaleb(-places)
    for i in np.flatnonzero(np.abs(x) >= 10.0 ** (DIGITS - 1 - places)):
        out[i] = int(Decimal(f"{x[i]:.{DIGITS}g}").quantize(unit, ROUND_HALF_UP).scaleb(places))
    return out


# A numeric in PostgreSQL's binary form with a fixed six base-10000 digits (weight 4: 10^16 down to 1, then the
# cents as the first fractional digit): every int64 count of cents fits, and staged money keeps COPY rows
# fixed-width. PostgreSQL strips the leading and trailing zero digits on receipt, so the value is stored
# exactly as its own numeric_send would give it, and the column's type decides what is too large, as for any
# numeric. NaN (no figure) carries six zero digits, which PostgreSQL ignores for NaN.
_DIGITS, _WEIGHT = 6, 4
_POSITIVE, _NEGATIVE, _NAN = 0x0000, 0x4000, -0x4000  # sign words (0xC000 as a signed 16-bit value)


def numeric_binary(values: np.ndarray) -> np.ndarray:
    """int64 cents (NO_CENTS for none) as 20-byte binary numerics of scale 2 (NaN for none)."""
    c = np.asarray(values, dtype=np.int64)
    missing = c == NO_CENTS
    magnitude = np.abs(np.where(missing, 0, c)).astype(np.uint64)
    whole, fraction = np.divmod(magnitude, np.uint64(100))
    out = np.zeros((len(c), 4 + _DIGITS), dtype=">i2")
    out[:, 0], out[:, 1] = _DIGITS, _WEIGHT
    out[:, 2] = np.where(missing, _NAN, np.where(c < 0, _NEGATIVE, _POSITIVE))
    out[:, 3] = 2  # display scale: two decimals, as numeric(_, 2) stores them
    # The whole part's base-10000 groups, least significant first, up to the largest value's (the rest stay 0).
    group = _DIGITS - 2
    while group >= 0 and whole.any():
        whole, out[:, 4 + group] = np.divmod(whole, np.uint64(10_000))
        group -= 1
    out[:, 3 + _DIGITS] = fraction * np.uint64(100)
    out[missing, 4:] = 0
    return out.view(f"V{2 * (4 + _DIGITS)}").reshape(-1)
