"""The result of a campaign, ready for charts: per-group series, uplift with its interval, money, SRM."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from crm_shared.schemas.common import Money


class GroupResult(BaseModel):
    group: str
    members: int
    converters: int = Field(description="members with at least one attributed order")
    orders: int
    conversion_rate: float | None
    revenue: Money
    revenue_per_member: Money | None


class Uplift(BaseModel):
    """Treatment minus comparison group, conversion rate (absolute, 0-1)."""

    versus: str = Field(description="control, or global_control for the programme's lift")
    absolute: float
    ci_low: float
    ci_high: float
    confidence: float = 0.95
    standard_error: float
    significant: bool


class SampleRatioCheck(BaseModel):
    expected_control_share: float
    observed_control_share: float | None
    chi_square: float | None
    p_value: float | None
    mismatch: bool
    warning: str | None


class DailyPoint(BaseModel):
    day: date
    treatment: float | None = Field(description="cumulative conversion rate up to this day")
    control: float | None
    global_control: float | None


class CampaignResult(BaseModel):
    campaign_id: uuid.UUID
    launched_at: datetime | None
    window_ends_at: datetime | None
    groups: list[GroupResult]
    uplift: Uplift | None
    programme_uplift: Uplift | None
    incremental_conversions: float | None
    incremental_revenue: Money | None
    contacts: int = Field(description="messages sent (recipients with status sent)")
    cost: Money
    roi: float | None = Field(description="(incremental revenue - cost) / cost")
    sample_ratio: SampleRatioCheck
    daily: list[DailyPoint]


CENT = Decimal("0.01")
