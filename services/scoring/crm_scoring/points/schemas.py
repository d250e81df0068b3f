"""Points-ledger contracts."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from crm_shared.schemas.common import Money


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
