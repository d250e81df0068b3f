"""Win-back contracts: the rules (eligibility, owners, offer guard, window) as data, cases, actions and
the assessment report."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from crm_shared.bounds import Amount, Instant, PositiveAmount
from crm_shared.text import SingleLine

Status = Literal["analysis", "implementation", "won", "lost", "excluded", "merged"]
Strategy = Literal["personal_conversation", "tailored_offer", "bulk_outreach"]
ActionKind = Literal["personal_conversation", "bulk_outreach"]
ReasonKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Owner = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SingleLine]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class WinbackRules(BaseModel):
    """GET/PUT /api/v1/churn/winback/rules. Defaults follow DOMAIN.md 3: attracted, left dissatisfied and
    other are pursued; abandoned by us, forced and bought off are excluded; low value is not pursued."""

    model_config = ConfigDict(extra="forbid")

    min_expected_value: Amount = Field(
        Decimal("500"), description="a case is pursued only when the customer's expected value reaches this"
    )
    pursued_reasons: list[ReasonKey] = Field(
        ["left_dissatisfied", "attracted", "other"],
        min_length=1,
        description="recoverability reasons pursued; the first one the record carries is the case's primary reason",
    )
    excluded_reasons: list[ReasonKey] = Field(["abandoned_by_us", "forced", "bought_off"])
    unclassified: Literal["pursue", "exclude"] = Field(
        "pursue", description="a record with none of these reasons yet: pursue it (classify in analysis) or not"
    )
    strategies: dict[ReasonKey, Strategy] = Field(
        {"left_dissatisfied": "personal_conversation", "attracted": "tailored_offer", "other": "personal_conversation"},
        description="the default strategy per primary reason (personal conversation without one)",
    )
    min_similar_cases: int = Field(
        5,
        ge=1,
        le=100_000,
        description="closed similar cases needed before their success rates change the recommendation",
    )
    window_days: int = Field(90, ge=1, le=3650, description="an order within this many days of opening wins the case")
    settle_after_hours: int = Field(
        24, ge=0, le=720, description="the sweep records a passed window as lost this long after it ended"
    )
    offer_max_share: Decimal = Field(
        Decimal("0.2"),
        gt=0,
        le=1,
        decimal_places=4,
        description="offers on a case may total at most this share of its expected value",
    )
    senior_value_threshold: Amount = Field(
        Decimal("5000"), description="cases of at least this expected value need a senior owner"
    )
    senior_owners: list[Owner] = Field([], description="who counts as senior")

    @model_validator(mode="after")
    def _disjoint(self) -> WinbackRules:
        both = sorted(set(self.pursued_reasons) & set(self.excluded_reasons))
        if both:
            raise ValueError(f"a reason cannot be both pursued and excluded: {', '.join(both)}")
        return self


class SimilarOutcome(BaseModel):
    strategy: str
    closed: int
    won: int
    success_rate: float | None


class Recommendation(BaseModel):
    strategy: Strategy
    basis: str = Field(description="why: the reason's default, or past success rates of similar cases")
    similar: list[SimilarOutcome] = Field(description="closed cases with the same primary reason and ABC class")


class ActionRead(BaseModel):
    id: uuid.UUID
    kind: str
    by: str | None
    at: datetime
    note: str | None
    cost: Decimal | None = Field(description="null when masked (an offer, without offers:read)")
    offer_value: Decimal | None
    masked: bool


class CaseRead(BaseModel):
    id: uuid.UUID
    record_id: uuid.UUID
    customer_id: uuid.UUID
    status: Status = Field(description="an open case whose window has passed reads as lost (settled: false)")
    phase: Literal["analysis", "implementation", "assessment"]
    settled: bool = Field(description="false while a passed window's loss awaits the sweep")
    allowed_actions: list[str]
    exclusion_rule: str | None
    exclusion: str | None
    reasons: list[str]
    primary_reason: str | None
    expected_value: Decimal
    value_band: str | None
    strategy: str | None
    requires_senior: bool
    owner: str | None
    opened_at: datetime
    window_ends_at: datetime
    closed_at: datetime | None
    order_id: uuid.UUID | None
    benefit: Decimal | None
    cost: Decimal | None = Field(description="null when masked (offers included), without offers:read")
    note: str | None
    merged_into: uuid.UUID | None = Field(description="status merged: the case it joined (a customer merge)")
    version: int


class CaseDetail(CaseRead):
    actions: list[ActionRead]
    recommendation: Recommendation


class CaseFilters(BaseModel):
    status: Status | None = None
    owner: Owner | None = None
    strategy: Strategy | None = None
    customer_id: uuid.UUID | None = None


class Assign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner: Owner
    strategy: Strategy | None = Field(default=None, description="default: the recommended one")
    note: Note | None = None


class ActionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ActionKind
    note: Note | None = None
    cost: Amount = Field(Decimal("0"), description="what the action cost (time, outreach)")
    at: Instant | None = Field(default=None, description="when it happened; default now")


class OfferCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: PositiveAmount = Field(description="what the offer gives the customer (its cost)")
    note: Note | None = None


class Exclude(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Note


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Note | None = None


class ReportRow(BaseModel):
    key: str = Field(description="the period's first day, the reason, the strategy or the owner")
    closed: int
    won: int
    lost: int
    success_rate: float | None
    benefit: Decimal
    cost: Decimal
    benefit_cost_ratio: float | None = Field(description="benefit / cost; null without cost")


class Report(BaseModel):
    by: str
    rows: list[ReportRow]
    total: ReportRow


class ReportQuery(BaseModel):
    by: Literal["month", "quarter", "reason", "strategy", "owner"] = "month"
    from_: Instant | None = Field(default=None, alias="from", description="closed at or after")
    to: Instant | None = Field(default=None, description="closed before")


class SweepResult(BaseModel):
    lost: int = Field(description="open cases whose window had passed, now recorded as lost")
