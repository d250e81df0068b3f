"""Report contracts: chart-ready series (one point per period) and totals."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from crm_shared.bounds import Day
from crm_shared.schemas.common import Money

from ..reasons.schemas import KEY_PATTERN

Granularity = Literal["month", "quarter"]
Rate = Decimal  # a share 0..1, 6 decimals; null where the denominator is 0


class ReportFilters(BaseModel):
    """`from`/`to`: the days the report covers (`to` exclusive); default the 12 months to the current
    month's end. ABC class, stage, segment, region and channel filter the churned by their value at churn
    and the active by their current value; a reason filters the churned only."""

    from_: Day | None = Field(default=None, alias="from")
    to: Day | None = None
    abc_class: Literal["A", "B", "C"] | None = None
    stage: Literal["introduction", "growth", "maturity", "decline", "churned"] | None = None
    segment: str | None = Field(default=None, max_length=32)
    region: str | None = Field(default=None, max_length=100)
    channel: str | None = Field(default=None, max_length=32)
    reason: str | None = Field(default=None, pattern=KEY_PATTERN)


class ChurnRateFilters(ReportFilters):
    granularity: Granularity = "month"


class BudgetFilters(ReportFilters):
    saved_share: Decimal = Field(
        default=Decimal(1),
        gt=0,
        le=1,
        max_digits=5,
        decimal_places=4,
        description="share of the profit lost that retention is expected to save (1: all of it)",
    )


class RatePoint(BaseModel):
    period_start: date
    period_end: date = Field(description="exclusive")
    active_at_start: int
    churned: int
    rate: Rate | None = Field(description="churned / active at period start")
    revenue_at_start: Money = Field(description="revenue of the 12 months before the start, of the active")
    revenue_churned: Money = Field(description="revenue of the last 12 months of the churned, at churn")
    revenue_rate: Rate | None


class ChurnRateReport(BaseModel):
    granularity: Granularity
    series: list[RatePoint]


class ReasonShare(BaseModel):
    key: str
    label: str
    controllable: bool
    count: int
    share: Rate | None = Field(description="of the period's records (a record may cite several reasons)")


class TaxonomyDistribution(BaseModel):
    taxonomy: Literal["cause", "recoverability"]
    classified: int = Field(description="records citing at least one reason of this taxonomy")
    unclassified: int
    reasons: list[ReasonShare]


class ReasonReport(BaseModel):
    period_start: date
    period_end: date
    records: int
    controllable: int = Field(description="records citing at least one controllable reason")
    uncontrollable_only: int = Field(description="records citing reasons, none controllable")
    taxonomies: list[TaxonomyDistribution]


class ProfitPoint(BaseModel):
    period_start: date
    period_end: date
    lost_customers: int
    revenue_lost: Money
    revenue_per_customer: Money | None
    profit_lost: Money = Field(description="sum of revenue x margin of each lost customer")
    clv_lost: Money


class ProfitLostReport(BaseModel):
    """Lost customers: churn records of the period not won back."""

    period_start: date
    period_end: date
    total: ProfitPoint
    series: list[ProfitPoint] = Field(description="per month")


class RetentionBudget(BaseModel):
    period_start: date
    period_end: date
    lost_customers: int
    profit_lost: Money
    saved_share: Decimal
    budget_ceiling: Money = Field(description="retention spending is justified only below this: profit it saves")
    per_customer_ceiling: Money | None
    rule: str
