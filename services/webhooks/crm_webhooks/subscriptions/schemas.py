"""Subscription contracts. The secret is in the answer to a creation and a rotation only."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_shared.schemas.common import ReadModel
from crm_shared.text import SingleLine

Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), SingleLine]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), SingleLine]
Pattern = Annotated[str, StringConstraints(min_length=1, max_length=100), SingleLine]
FILTERS_EXAMPLE = {"to_stage": "decline"}
Filters = Annotated[
    dict[str, Any],
    Field(
        examples=[FILTERS_EXAMPLE, {"to_stage": ["decline", "churned"]}],
        description="top-level payload field -> a value (equality) or a list of values (one of)",
    ),
]
EventTypes = Annotated[
    list[Pattern],
    Field(
        examples=[["lifecycle.changed", "order.*"]],
        description="event types, or fnmatch patterns over them (GET /api/v1/webhooks/event-types)",
    ),
]
Status = Literal["active", "paused"]


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url = Field(examples=["https://partner.example/hooks/crm"])
    description: Description | None = None
    event_types: EventTypes
    filters: Filters = Field(default_factory=dict)


class SubscriptionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    description: Description | None = None
    event_types: EventTypes | None = None
    filters: Filters | None = None


class SubscriptionRead(ReadModel):
    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    filters: dict[str, Any]
    status: Status = Field(description="paused: events are still queued, and sent once resumed")
    owner_kind: str
    owner_id: str
    partner: str | None = Field(description="the partner whose events alone it receives; null for staff")
    pii: bool = Field(description="may receive payloads with personal data (its creator held pii:read)")
    previous_secret_expires_at: datetime | None = Field(
        description="until then deliveries are signed with the previous secret too (after a rotation)"
    )
    version: int
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionRead):
    secret: str = Field(description="whsec_<base64>: shown this once; verify each delivery's signature with it")


class RotateSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_seconds: int | None = Field(
        default=None,
        ge=0,
        le=7 * 24 * 3600,
        description="how long the old secret still signs deliveries (beside the new one); default 24 h",
    )


class SecretRotated(BaseModel):
    secret: str = Field(description="the new whsec_ secret, shown this once")
    previous_secret_expires_at: datetime | None
    version: int


class EventTypeInfo(BaseModel):
    type: str
    filter_fields: list[str] = Field(description="top-level payload fields a filter may compare")
    partner_attributed: bool = Field(description="the payload names a partner: partners receive their own")
    personal_data: bool = Field(description="the payload holds personal data: needs pii:read")


class EventTypeCatalogue(BaseModel):
    items: list[EventTypeInfo] = Field(description="the event types the caller may subscribe to")
