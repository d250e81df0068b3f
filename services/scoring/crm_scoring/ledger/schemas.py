"""Points-ledger contracts, and the YYYY-MM month parameters its queries take."""

from __future__ import annotations

import re
import uuid
from datetime import date

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from crm_shared.errors import FieldError, Unprocessable
from crm_shared.schemas.common import Money

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class PointsRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    customer_id: uuid.UUID
    month: date = Field(description="the first day of the month, e.g. 2026-11-01")
    points: Money = Field(description="the month's points: that month's composite score")
    formula_version: int | None = Field(description="the formula version that scored it")
    run_id: int | None = Field(description="the batch run that recorded it")
    recorded_at: AwareDatetime = Field(description="UTC")


class CustomerPoints(BaseModel):
    """A customer's points, newest month first."""

    customer_id: uuid.UUID
    total: Money = Field(description="the sum of all months' points")
    months: int = Field(description="how many months have points")
    items: list[PointsRead]


def parse_month(value: str | None, parameter: str) -> date | None:
    """`YYYY-MM` to the month's first day; 422 naming the parameter otherwise."""
    if value is None:
        return None
    match = _MONTH.match(value.strip())
    if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
        raise Unprocessable(
            f"{parameter} must be a month as YYYY-MM",
            errors=[FieldError(detail=f"expected YYYY-MM, e.g. 2026-11; got {value!r}", parameter=parameter)],
        )
    return date(int(match[1]), int(match[2]), 1)


def check_months(month: date | None, start: date | None, end: date | None) -> None:
    """`month` is one month, `from`/`to` a range: not both; and a range runs forward."""
    if month is not None and (start is not None or end is not None):
        raise Unprocessable(
            "give either month, or from and/or to",
            errors=[FieldError(detail="not together with from/to", parameter="month")],
        )
    if start is not None and end is not None and start > end:
        raise Unprocessable("from is after to", errors=[FieldError(detail="must not be after to", parameter="from")])
