"""The stored reason for each customer's stage: the lifecycle rule that decided it (compute/lifecycle.py) in
words, quoting the customer's figures and the thresholds in force, so batch and incremental scoring explain a
stage in the same words.

Figures are written as PostgreSQL writes them: P(alive) as round(p::numeric, 3) ("0.150"), trends as whole
percentages rounded half to even, thresholds as float8 or integer output. A batch's million reasons are a few
thousand distinct texts (most quote one or two small figures): each distinct text is made once, in Python, and
the rows pick theirs (binary_copy.Field.lookup)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..rules.schemas import Rules
from .binary_copy import Field
from .cents import NO_CENTS, rounded

NOT_AVAILABLE = "n/a"


def float_text(value: float) -> str:
    """A float8 as PostgreSQL prints it (the shortest form that reads back exactly; "1", not "1.0")."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _percent(value: float) -> str:
    """A trend already scaled and rounded to a whole percentage (NaN: none)."""
    if value != value:
        return NOT_AVAILABLE
    return f"{int(value)}%" if abs(value) < 1e15 else f"{float_text(value)}%"


def _p_alive(thousandths: float) -> str:
    if thousandths != thousandths:
        return NOT_AVAILABLE
    whole, part = divmod(abs(int(thousandths)), 1000)
    return f"{'-' if thousandths < 0 else ''}{whole}.{part:03d}"


def stage_reasons(
    rule: np.ndarray,
    *,
    n_days: np.ndarray,
    recency_days: np.ndarray,
    p_alive: np.ndarray,
    frequency_trend: np.ndarray,
    spend_trend: np.ndarray,
    rules: Rules,
    made: dict[Any, bytes] | None = None,
) -> Field:
    """Each customer's reason text from its rule number (1-9) and figures (NaN for a figure there is none of).
    `made`: the texts made so far for the same rules (by their rule and figures), reused and added to."""
    made = {} if made is None else made
    rows = len(rule)
    p = rounded(p_alive, 3).astype(np.float64)
    p[p == NO_CENTS] = np.nan
    frequency, spend = np.rint(frequency_trend * 100), np.rint(spend_trend * 100)  # half to even, as round(float8)
    # Per row: the rule and the (up to three) figures its text quotes, zeros where it quotes fewer.
    quoted = np.zeros((rows, 4), dtype=np.float64)
    quoted[:, 0] = rule
    for column, rules_quoting, figure in (
        (1, (2, 4), recency_days),
        (1, (3, 5), p),
        (1, (7, 9), n_days),
        (1, (6,), frequency),
        (1, (8,), spend),
        (2, (6,), spend),
        (2, (9,), p),
        (3, (9,), spend),
    ):
        at = np.isin(rule, rules_quoting)
        quoted[at, column] = figure[at]
    distinct, first, pick = _distinct(quoted)
    texts = []
    for key, row in zip(distinct.tolist(), first.tolist(), strict=True):
        text = made.get(key)
        if text is None:
            r, a, b, c = quoted[row].tolist()
            text = made[key] = _reason(r, a, b, c, rules).encode()
        texts.append(text)
    return Field.lookup(pick.reshape(rows), texts)


_FIGURE_BITS = 20  # per figure in a packed key: figures within +-2^19, and a code for none
_NONE = 2**_FIGURE_BITS - 1


def _distinct(quoted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct rows of `quoted` as keys (hashable, equal for equal rows within one batch), the first row of
    each and each row's key index. Rows pack into one 64-bit integer (rule and three figures) when every figure
    is small, as nearly always (days, thousandths, percentages); else they are compared as 32 bytes (4x
    slower to sort)."""
    figures = quoted[:, 1:]
    none = np.isnan(figures)
    whole = np.where(none, 0, figures)
    half = 2 ** (_FIGURE_BITS - 1)
    if np.all(np.abs(whole) < half):
        codes = np.where(none, _NONE, whole + half).astype(np.uint64)
        keys = quoted[:, 0].astype(np.uint64)
        for i in range(3):
            keys |= codes[:, i] << np.uint64(4 + _FIGURE_BITS * i)
        distinct, first, pick = np.unique(keys, return_index=True, return_inverse=True)
        return distinct, first, pick
    canonical = np.where(np.isnan(quoted), np.nan, quoted)  # one NaN bit pattern: equal rows compare equal
    distinct, first, pick = np.unique(
        np.ascontiguousarray(canonical).view("V32").reshape(-1), return_index=True, return_inverse=True
    )
    return distinct, first, pick


def _reason(rule: float, a: float, b: float, c: float, rules: Rules) -> str:
    lc, window = rules.lifecycle, rules.clv.trend_window_days
    over = f" over the last {window} days against the {window} days before"
    match int(rule):
        case 1:
            return "known customer, no purchase yet"
        case 2:
            return f"no purchase for {int(a)} days (churned after {lc.churned_days})"
        case 3:
            return f"P(alive) {_p_alive(a)} is below {float_text(lc.churned_p_alive)}"
        case 4:
            return f"one purchase day so far, {int(a)} days ago"
        case 5:
            return f"P(alive) {_p_alive(a)} is below {float_text(lc.decline_p_alive)}"
        case 6:
            at = float_text(float(np.rint(lc.decline_trend * 100)))
            return f"purchase days {_percent(a)} and spend {_percent(b)}{over} (decline at {at}% or lower on both)"
        case 7:
            return f"{int(a)} purchase days so far (growth up to {lc.growth_max_purchase_days})"
        case 8:
            return f"spend {_percent(a)}{over} (growth from +{float_text(float(np.rint(lc.growth_trend * 100)))}%)"
        case _:
            return f"{int(a)} purchase days, P(alive) {_p_alive(b)}, spend trend {_percent(c)}: stable"
