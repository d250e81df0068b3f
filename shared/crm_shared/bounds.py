"""The accepted ranges every service shares: instants and days, money amounts and quantities, integers.

Dates and times: years 1900 to 2200, with a UTC offset, kept in UTC. Python and PostgreSQL hold more, but
the edges broke: year 1 at +01:00 is year 0 in UTC (Python cannot hold it, so the statement failed),
0001-01-01T00:00Z reached the database as -infinity and came back without a zone, and day arithmetic on
9999-12-31 overflowed.

Money: a plain decimal string ("12.50") or a JSON number; 0 <= amount < 1,000,000,000 with at most 4
decimals. The scoring service keeps a purchase's amount, and a customer's sums (total_spend, spend_12m,
clv ...), in numeric(14, 2), which holds less than 10**12: a bound 1,000 times below that leaves room for
the sums, so scoring holds whatever the customer service accepts (an order of 1e13 once made scoring fail
the whole delivery it came in). Text such as "1_000", " 5 ", "1e3" or non-ASCII digits is refused: Python's
Decimal reads all of them, so what was stored was not what the client meant to send.

Integers that reach a bigint column: at most 2**63 - 1.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

from .errors import FieldError, Unprocessable

MIN_YEAR, MAX_YEAR = 1900, 2200
EARLIEST = datetime(MIN_YEAR, 1, 1, tzinfo=UTC)
END = datetime(MAX_YEAR + 1, 1, 1, tzinfo=UTC)  # exclusive
FIRST_DAY, LAST_DAY = date(MIN_YEAR, 1, 1), date(MAX_YEAR, 12, 31)
MAX_AMOUNT = Decimal(10) ** 9  # exclusive; a power of ten, so that a digit count says "in range"
MAX_QUANTITY = MAX_AMOUNT
DECIMAL_PLACES = 4  # the scale of the customer service's money columns
INT64_MAX = 2**63 - 1
PLAIN_DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"
# What is accepted, written as a pattern (published in the OpenAPI; a match needs no other check).
AMOUNT_PATTERN = rf"^[0-9]{{1,{len(str(MAX_AMOUNT)) - 1}}}(\.[0-9]{{1,{DECIMAL_PLACES}}})?$"

_PLAIN = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")  # fullmatch: `$` would let a trailing newline through
_QUANTUM = Decimal(1).scaleb(-DECIMAL_PLACES)
_NOT_FINITE = frozenset({"nan", "snan", "inf", "infinity"})
_RANGE = f"between {FIRST_DAY} and {LAST_DAY}"
NOT_PLAIN = 'must be a plain decimal such as "12.50" (ASCII digits and one dot; no spaces, _ or exponent)'


def instant_problem(value: datetime) -> str | None:
    """Why an instant is refused, or None."""
    if value.utcoffset() is None:
        return "needs a UTC offset, e.g. 2026-11-20T10:15:00Z"
    if not EARLIEST <= value < END:  # compared as instants: no conversion that could overflow
        return f"must be {_RANGE} (UTC)"
    return None


def check_period(from_: datetime | None, to: datetime | None) -> None:
    """A `from`/`to` query filter pair: `from` (inclusive) must come before `to` (exclusive)."""
    if from_ is not None and to is not None and from_ >= to:
        raise Unprocessable(
            "`from` must be before `to`", errors=[FieldError(detail="must be after `from`", parameter="to")]
        )


def day_problem(value: date) -> str | None:
    if not FIRST_DAY <= value <= LAST_DAY:
        return f"must be {_RANGE}"
    return None


def to_decimal(value: object) -> Decimal:
    """A plain decimal string or a JSON number as a Decimal; ValueError for anything else."""
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        if _PLAIN.fullmatch(value) is None:
            raise ValueError(
                "must be a finite number" if value.strip().lower().lstrip("+-") in _NOT_FINITE else NOT_PLAIN
            )
        number = Decimal(value)
    elif isinstance(value, bool):
        raise ValueError("must be a decimal string or a number")
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        # Exact for what is accepted: up to 13 significant digits survive the float's shortest repr.
        number = Decimal(repr(value))
    else:
        raise ValueError("must be a decimal string or a number")
    if not number.is_finite():
        raise ValueError("must be a finite number")
    return number


def amount_problem(value: Decimal, *, maximum: Decimal = MAX_AMOUNT, positive: bool = False) -> str | None:
    """Why a money amount (or, with MAX_QUANTITY, a quantity) is refused, or None."""
    if not value.is_finite():
        return "must be a finite number"
    if value < 0 or (positive and value == 0):
        return "must be positive" if positive else "must not be negative"
    if value >= maximum:
        return f"must be less than {maximum:,}"
    if value != value.quantize(_QUANTUM):
        return f"has more than {DECIMAL_PLACES} decimal places"
    return None


_PLAIN_IN_RANGE = re.compile(AMOUNT_PATTERN[1:-1])  # without the anchors, for fullmatch


def parse_amount(value: object, *, maximum: Decimal = MAX_AMOUNT, positive: bool = False) -> Decimal:
    """A decimal string or JSON number as a Decimal within the bounds; ValueError saying why not. The common
    case, a plain string in range, costs one regex match and one Decimal() (a batch holds ~25,000 of them)."""
    if type(value) is str and maximum >= MAX_AMOUNT and _PLAIN_IN_RANGE.fullmatch(value) is not None:
        number = Decimal(value)
        if number or not positive:
            return number
    number = to_decimal(value)
    if (problem := amount_problem(number, maximum=maximum, positive=positive)) is not None:
        raise ValueError(problem)
    return number


def _instant(value: datetime) -> datetime:
    if (problem := instant_problem(value)) is not None:
        raise ValueError(problem)
    return value.astimezone(UTC)


def _day(value: date) -> date:
    if (problem := day_problem(value)) is not None:
        raise ValueError(problem)
    return value


def _amount(value: Decimal, *, positive: bool = False) -> Decimal:
    if (problem := amount_problem(value, positive=positive)) is not None:
        raise ValueError(problem)
    return value.quantize(_QUANTUM)  # the columns' scale: a write reads back as it is stored


def _positive_amount(value: Decimal) -> Decimal:
    return _amount(value, positive=True)


def _amount_schema(minimum: str) -> dict[str, Any]:
    return {
        "anyOf": [_DECIMAL_SCHEMA, {"type": "number", minimum: 0, "exclusiveMaximum": int(MAX_AMOUNT)}],
        "description": f"a decimal such as 12.50: below {MAX_AMOUNT:,}, at most {DECIMAL_PLACES} decimals",
    }


_DECIMAL_SCHEMA = {"type": "string", "pattern": AMOUNT_PATTERN}

# pydantic field types.
Instant = Annotated[datetime, AfterValidator(_instant)]  # with an offset, 1900..2200; given back in UTC
Day = Annotated[date, AfterValidator(_day)]  # 1900-01-01..2200-12-31
PlainDecimal = Annotated[Decimal, BeforeValidator(to_decimal)]  # add Field(...) bounds
Amount = Annotated[
    Decimal, BeforeValidator(to_decimal), AfterValidator(_amount), WithJsonSchema(_amount_schema("minimum"))
]
PositiveAmount = Annotated[
    Decimal,
    BeforeValidator(to_decimal),
    AfterValidator(_positive_amount),
    WithJsonSchema(_amount_schema("exclusiveMinimum")),
]

# msgspec field type of a decimal in a body decoded outside pydantic. The pattern is published, not run
# while decoding: `to_decimal` checks the text and turns it into a Decimal with a clearer message.
if TYPE_CHECKING:
    # After the check, the field holds the Decimal `to_decimal` made of it (converted in place). msgspec
    # cannot decode a `str | Decimal` union (both are JSON strings), so only the type checker sees it.
    DecimalIn = str | int | float | Decimal
else:
    DecimalIn = Annotated[str, msgspec.Meta(extra_json_schema={"pattern": AMOUNT_PATTERN})] | int | float
