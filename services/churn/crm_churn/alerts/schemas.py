"""Mass-churn alert contracts."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from crm_shared.bounds import Day
from crm_shared.schemas.churn import AlertDimension
from crm_shared.schemas.common import ReadModel


class AlertFilters(BaseModel):
    dimension: AlertDimension | None = None
    from_: Day | None = Field(default=None, alias="from", description="month starting on or after")
    to: Day | None = Field(default=None, description="month starting before")


class AlertRead(ReadModel):
    id: uuid.UUID
    period_start: date
    period_end: date
    dimension: AlertDimension
    value: str = Field(description="the ABC class, segment or region; empty for overall")
    churned: int
    active_at_start: int
    rate: Decimal
    baseline_rate: Decimal
    factor: Decimal = Field(description="the month's churn over the baseline's monthly mean")
    recommendation: str
    created_at: datetime
    updated_at: datetime
