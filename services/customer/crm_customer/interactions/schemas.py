"""Interaction contracts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from crm_shared.bounds import Instant
from crm_shared.schemas.common import ReadModel
from crm_shared.schemas.events import Direction, InteractionChannel
from crm_shared.text import SingleLine

from ..clock import in_future

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SingleLine]
Staff = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SingleLine]


class InteractionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: InteractionChannel
    direction: Direction
    subject: Text200 | None = None
    outcome: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)] | None = None
    staff: Staff | None = Field(default=None, description="who handled it; default: the calling user")
    contact_id: uuid.UUID | None = Field(default=None, description="one of the customer's contacts")
    occurred_at: Instant = Field(description="when it happened; not in the future")

    @field_validator("occurred_at")
    @classmethod
    def _not_future(cls, v: datetime) -> datetime:
        if in_future(v):
            raise ValueError("must not be in the future")
        return v


class InteractionRead(ReadModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    contact_id: uuid.UUID | None
    channel: InteractionChannel
    direction: Direction
    subject: str | None
    outcome: str | None
    staff: str | None
    occurred_at: datetime
    created_at: datetime


class InteractionFilters(BaseModel):
    channel: InteractionChannel | None = None
    direction: Direction | None = None
    from_: Instant | None = Field(default=None, alias="from", description="occurred at or after")
    to: Instant | None = Field(default=None, description="occurred before")
