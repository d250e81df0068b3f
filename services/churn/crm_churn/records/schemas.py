"""Churn record contracts."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from crm_shared.bounds import Instant
from crm_shared.schemas.churn import ChurnSource, ChurnStatus
from crm_shared.schemas.common import Money, ReadModel

from ..reasons.schemas import KEY_PATTERN

ReasonKey = Annotated[str, StringConstraints(max_length=64)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Margin = Annotated[Decimal, Field(ge=0, le=1, max_digits=5, decimal_places=4, description="gross margin share")]


class RecordCreate(BaseModel):
    """An agent declares that a customer ended the relationship."""

    model_config = ConfigDict(extra="forbid")

    customer_id: uuid.UUID
    reasons: list[ReasonKey] = Field(default=[], max_length=20, description="reason keys of either taxonomy")
    detected_at: Instant | None = Field(default=None, description="when the customer left; default now")
    margin: Margin | None = Field(default=None, description="default: the service's configured margin")
    note: Note | None = None

    @field_validator("detected_at")
    @classmethod
    def _not_future(cls, v: datetime | None) -> datetime | None:
        if v is not None and v > datetime.now(v.tzinfo):
            raise ValueError("must not be in the future")
        return v


class RecordUpdate(BaseModel):
    """Replace the reasons, the note, or move the status (churned -> in_winback -> won_back | lost)."""

    model_config = ConfigDict(extra="forbid")

    reasons: list[ReasonKey] | None = Field(default=None, max_length=20)
    note: Note | None = None
    status: ChurnStatus | None = None


class RecordFilters(BaseModel):
    customer_id: uuid.UUID | None = None
    status: ChurnStatus | None = None
    source: ChurnSource | None = None
    reason: str | None = Field(default=None, pattern=KEY_PATTERN)
    abc_class: Literal["A", "B", "C"] | None = None
    segment: str | None = Field(default=None, max_length=32)
    region: str | None = Field(default=None, max_length=100)
    from_: Instant | None = Field(default=None, alias="from", description="detected at or after")
    to: Instant | None = Field(default=None, description="detected before")


class RecordRead(ReadModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    status: ChurnStatus
    source: ChurnSource
    detected_at: datetime
    declared_by: str | None
    note: str | None
    reasons: list[str]
    clv: Money | None
    abc_class: str | None
    composite_score: Decimal | None
    revenue_12m: Money
    margin: Decimal
    stage: str | None
    segment: str | None
    region: str | None
    channel: str | None
    won_back_at: datetime | None
    won_back_order_id: uuid.UUID | None
    closed_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class Evidence(BaseModel):
    complaint_id: uuid.UUID
    number: int
    category: str
    severity: str
    status: str
    subject: str
    opened_at: datetime


class Suggestion(BaseModel):
    """A reason the evidence points to; shown for an agent to apply, never applied by itself."""

    reason: str
    label: str
    taxonomy: str
    rule: str = Field(description="why it is suggested")
    applied: bool = Field(description="the record already carries it")
    evidence: list[Evidence]


class Suggestions(BaseModel):
    items: list[Suggestion]
