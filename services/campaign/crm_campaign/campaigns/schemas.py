"""Campaign contracts: campaigns, their launch summary, global holdouts and the audience sync report."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_shared.bounds import Amount, Instant, PlainDecimal
from crm_shared.schemas.common import Money, ReadModel
from crm_shared.text import SingleLine

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SingleLine]
Objective = Literal["retention", "win_back", "cross_sell", "reactivation"]
Channel = Literal["email", "sms", "mail", "phone"]
Kind = Literal["marketing", "transactional"]
Share = Annotated[PlainDecimal, Field(ge=0, le=Decimal("0.9"), decimal_places=4)]
Template = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), SingleLine]
Seed = Annotated[int, Field(ge=0, le=2**62)]


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    objective: Objective
    kind: Kind = Field(default="marketing", description="transactional: exempt from caps and holdouts")
    segment_id: uuid.UUID
    channel: Channel
    subject: Subject | None = Field(default=None, description="email subject (a template too)")
    template: Template = Field(description="Jinja2 (sandboxed): customer.first_name, campaign.name, ...")
    scheduled_at: Instant | None = Field(default=None, description="nothing is sent before it")
    cost_per_contact: Amount = Decimal(0)
    budget: Amount | None = Field(default=None, description="at most budget / cost_per_contact contacts")
    control_share: Share = Field(default=Decimal("0.1"), description="share of the audience held out, 0-0.9")
    stratify_by_abc: bool = Field(default=False, description="hold out the same share within each ABC class")
    attribution_days: int = Field(default=30, ge=1, le=365)
    seed: Seed | None = Field(default=None, description="assignment seed; random when omitted")


class CampaignUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    objective: Objective | None = None
    segment_id: uuid.UUID | None = None
    channel: Channel | None = None
    subject: Subject | None = None
    template: Template | None = None
    scheduled_at: Instant | None = None
    cost_per_contact: Amount | None = None
    budget: Amount | None = None
    control_share: Share | None = None
    stratify_by_abc: bool | None = None
    attribution_days: int | None = Field(default=None, ge=1, le=365)


class CampaignRead(ReadModel):
    id: uuid.UUID
    name: str
    objective: Objective
    kind: Kind
    segment_id: uuid.UUID
    channel: Channel
    subject: str | None
    template: str
    scheduled_at: datetime | None
    cost_per_contact: Money
    budget: Money | None
    control_share: Decimal
    stratify_by_abc: bool
    attribution_days: int
    seed: int
    status: Literal["draft", "launched", "cancelled"]
    launched_at: datetime | None
    version: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class CampaignFilters(BaseModel):
    status: Literal["draft", "launched", "cancelled"] | None = None
    objective: Objective | None = None


class LaunchSummary(BaseModel):
    campaign_id: uuid.UUID
    launched_at: datetime
    members: int
    groups: dict[str, int] = Field(description="members per group: treatment, control, global_control")
    recipients: dict[str, int] = Field(description="treatment recipients per status (queued, suppressed)")
    suppressed: dict[str, int] = Field(description="suppressed recipients per reason")


class HoldoutCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    share: Annotated[PlainDecimal, Field(gt=0, le=Decimal("0.5"), decimal_places=4)]
    starts_at: Instant
    ends_at: Instant
    seed: Seed | None = None


class HoldoutRead(ReadModel):
    id: uuid.UUID
    name: str
    share: Decimal
    seed: int
    starts_at: datetime
    ends_at: datetime
    created_by: str | None
    created_at: datetime


class HoldoutEnd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ends_at: Instant


class SyncRead(BaseModel):
    customers: int
    consents: int
    tags: int
    scores: int
