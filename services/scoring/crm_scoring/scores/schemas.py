"""Score read models: one customer's scores grouped for a frontend, compact list rows, history entries,
and the list filters (query parameters, validated here so a bad one is named in the problem)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from crm_shared.pagination import PageRequest
from crm_shared.schemas.common import Money
from crm_shared.schemas.scores import Stage

from .models import STAGES

ABC_CLASSES = ("A", "B", "C")
# The one sort key of the list; the customer id breaks ties in the same direction.
SORTS = ("-clv", "clv", "-composite_score", "composite_score", "-churn_risk", "churn_risk", "customer_id")
DEFAULT_SORT = "-clv"
LIST_DEFAULT_LIMIT = 100
LIST_MAX_LIMIT = 1000
# (min, max) parameter pairs checked for min <= max.
RANGES = (
    ("clv_min", "clv_max"),
    ("p_alive_min", "p_alive_max"),
    ("churn_risk_min", "churn_risk_max"),
    ("composite_min", "composite_max"),
)

Probability = Annotated[float | None, Field(default=None, ge=0, le=1)]
MoneyBound = Annotated[Decimal | None, Field(default=None, allow_inf_nan=False, max_digits=16, decimal_places=2)]


def one_of(allowed: tuple[str, ...], values: list[str] | None) -> list[str] | None:
    """Deduplicated and sorted (so a cursor's filter binding does not depend on the order given)."""
    if values is None:
        return None
    bad = sorted({v for v in values if v not in allowed})
    if bad:
        raise ValueError(f"unknown value(s) {', '.join(map(repr, bad))}; allowed: {', '.join(allowed)}")
    return sorted(set(values))


class ScoreFilters(BaseModel):
    """Segment filters, all optional and combined with AND; a repeated parameter means any of its values.
    Unknown parameters are refused: a misspelt filter would otherwise silently select everyone."""

    model_config = ConfigDict(extra="forbid")

    stage: list[str] | None = Field(default=None, description=f"any of: {', '.join(STAGES)}")
    abc_class: list[str] | None = Field(default=None, description="any of: A, B, C")
    rfm_segment: list[Annotated[str, Field(max_length=32)]] | None = Field(default=None, max_length=50)
    gold: bool | None = None
    drag: bool | None = None
    # Bounds are inclusive; a bound on CLV, P(alive) or churn risk leaves out customers without one.
    clv_min: MoneyBound = Field(default=None, description="CLV at least this")
    clv_max: MoneyBound = Field(default=None, description="CLV at most this")
    p_alive_min: Probability = Field(default=None, description="P(alive) at least this (0-1)")
    p_alive_max: Probability = Field(default=None, description="P(alive) at most this (0-1)")
    churn_risk_min: Probability = Field(default=None, description="churn risk at least this (0-1)")
    churn_risk_max: Probability = Field(default=None, description="churn risk at most this (0-1)")
    composite_min: MoneyBound = Field(default=None, description="composite value score at least this")
    composite_max: MoneyBound = Field(default=None, description="composite value score at most this")

    @field_validator("stage")
    @classmethod
    def _stage(cls, v: list[str] | None) -> list[str] | None:
        return one_of(STAGES, v)

    @field_validator("abc_class")
    @classmethod
    def _abc(cls, v: list[str] | None) -> list[str] | None:
        return one_of(ABC_CLASSES, v)

    @field_validator("rfm_segment")
    @classmethod
    def _segments(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else sorted(set(v))

    def binding(self) -> dict[str, Any]:
        """What a cursor is bound to."""
        return self.model_dump(mode="json", include=set(ScoreFilters.model_fields))


class ScoreListQuery(ScoreFilters):
    """The list's query: filters plus sort and page (one model, so unknown parameters can be refused)."""

    sort: str = Field(default=DEFAULT_SORT, description=f"one of: {', '.join(SORTS)}")
    cursor: str | None = Field(default=None, max_length=2048, description="`next_cursor` of the previous page")
    limit: int = Field(
        default=LIST_DEFAULT_LIMIT,
        ge=1,
        le=LIST_MAX_LIMIT,
        description=f"page size, default {LIST_DEFAULT_LIMIT}, at most {LIST_MAX_LIMIT} (segment building pages "
        "through large sets)",
    )

    @field_validator("sort")
    @classmethod
    def _sort(cls, v: str) -> str:
        v = v.strip().removeprefix("+")
        if v not in SORTS:
            raise ValueError(f"cannot sort by {v!r}; allowed: {', '.join(SORTS)}")
        return v


ScoreFiltersQuery = Annotated[ScoreFilters, Query()]
ScoreListQueryDep = Annotated[ScoreListQuery, Query()]


def list_page(request: Request, query: ScoreListQuery) -> PageRequest:
    """The list's page: its own `cursor` and `limit` (up to 1000, beside the filters so unknown parameters
    stay refused), signed with the service's cursor secret."""
    return PageRequest.of(request, query.cursor, query.limit)


class ScoreListItem(BaseModel):
    """A compact row of the list, enough to build and show a segment."""

    model_config = ConfigDict(from_attributes=True)

    customer_id: uuid.UUID
    stage: Stage
    abc_class: str | None = Field(description="null before the first batch run")
    gold: bool
    drag: bool
    rfm_segment: str | None
    r: int
    f: int
    m: int
    composite_score: Money
    clv: Money | None
    p_alive: float | None
    churn_risk: float | None
    total_spend: Money
    last_purchase_at: datetime | None
    # The model outputs an analyst reads in bulk (the list and its NDJSON export), as the detail shows them.
    expected_purchases: dict[str, float | None] | None = Field(
        default=None, description='per horizon in days of the row\'s calibration, e.g. {"90": 1.2}; null before one'
    )
    expected_spend: Money | None = None


class ScoreExportQuery(ScoreFilters):
    """The export's query: the list's filters plus where to resume (unknown parameters refused)."""

    after: uuid.UUID | None = Field(default=None, description="resume after this customer id (the last line's)")


ScoreExportQueryDep = Annotated[ScoreExportQuery, Query()]


class ScoreCount(BaseModel):
    count: int


class Summary(BaseModel):
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    purchase_days: int
    order_count: int
    total_spend: Money
    avg_spend: Money | None
    spend_12m: Money
    monthly_frequency: float | None
    monthly_avg_spend: Money | None
    tenure_months: float | None
    recency_days: int | None
    frequency_trend: float | None
    spend_trend: float | None
    product_lines: list[str] = Field(description="distinct lines of the orders placed and not cancelled by as_of")


class Rfm(BaseModel):
    """Quintile scores 1-5 over the active base (0: not scored) and the segment they fall in."""

    r: int = Field(description="recency: fewer days since the last purchase scores higher")
    f: int = Field(description="frequency, counted as `frequency_basis` says (summary.purchase_days)")
    m: int = Field(description="monetary: total spend")
    segment: str | None
    frequency_basis: str = Field(
        description="what F counts: purchase_days, distinct days with a purchase, as the lifecycle stages and the "
        "purchase models count them (several orders on one day are one purchase); summary.order_count counts "
        "orders"
    )


class Abc(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    abc_class: str | None = Field(alias="class", description="null before the first batch run")
    gold: bool
    drag: bool


class ExplanationTerm(BaseModel):
    term: str
    input: str
    value: Any = Field(description="the input used (growth potential derived), null when unknown")
    rule: dict[str, Any]
    points: Money


class Explanation(BaseModel):
    terms: list[ExplanationTerm]
    total: Money = Field(description="the sum of the terms' points")


class Composite(BaseModel):
    score: Money
    formula_version: int | None
    explanation: Explanation | None = Field(description="null when the row names no stored formula version")


class Clv(BaseModel):
    p_alive: float | None = Field(description="MBG/NBD's probability that the customer is still active")
    churn_risk: float | None = Field(description="probability of no purchase in the next churn_horizon_days days")
    churn_signal: str = Field(
        description="what scored the churn risk: the signal the batch chose on the tenant's own history "
        "(classifier, blend, or a purchase model's p_no_purchase / p_dropout); see the run's stats.selection "
        "for the evidence"
    )
    churn_horizon_days: int | None = Field(description="the horizon the signal was chosen for; null before a choice")
    purchase_model: str = Field(description="the model of the expected purchases and CLV, chosen by holdout error")
    expected_purchases: dict[str, float | None] | None = Field(description='per horizon in days, e.g. {"90": 1.2}')
    expected_spend: Money | None
    clv: Money | None
    calibration_id: int


class Lifecycle(BaseModel):
    stage: Stage
    reason: str
    since: datetime


class CustomerScores(BaseModel):
    """A customer's current scores. `clv` is null before the first calibration."""

    customer_id: uuid.UUID
    as_of: datetime
    computed_at: datetime
    summary: Summary
    rfm: Rfm
    abc: Abc
    composite: Composite
    clv: Clv | None
    lifecycle: Lifecycle


class ScoreChangeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    as_of: datetime
    cause: str
    composite_score: Money
    clv: Money | None
    p_alive: float | None
    abc_class: str | None
    rfm_segment: str | None
    stage: Stage
    changed: list[str]


class StageChangeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    as_of: datetime
    cause: str
    from_stage: Stage | None
    to_stage: Stage
    reason: str


class ScoreExplanation(BaseModel):
    """Why a customer scores as it does: each composite term's input and points, the rule behind the
    lifecycle stage, and the customer's RFM and ABC placement."""

    customer_id: uuid.UUID
    as_of: datetime
    composite: Composite
    lifecycle: Lifecycle
    rfm: Rfm
    abc: Abc
