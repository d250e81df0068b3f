"""Consent and contact-preference contracts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_shared.schemas.events import ConsentChannel, ConsentStatus
from crm_shared.text import SingleLine

Source = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SingleLine]


class ConsentSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ConsentStatus
    source: Source = Field(examples=["web form", "unsubscribe link", "call centre"])


class ConsentRead(BaseModel):
    """The current consent on one channel; `unknown` when nothing was ever recorded."""

    channel: ConsentChannel
    status: Literal["opted_in", "opted_out", "unknown"]
    source: str | None = None
    updated_at: datetime | None = None


class ConsentOverview(BaseModel):
    customer_id: uuid.UUID
    consents: list[ConsentRead] = Field(description="one entry per channel: email, sms, mail, phone")
    preferred_channel: ConsentChannel | None
    max_contacts_per_month: int | None


class ConsentRecordRead(BaseModel):
    id: int
    channel: ConsentChannel
    status: ConsentStatus
    source: str
    recorded_at: datetime


class ContactPreferencesSet(BaseModel):
    """Only the fields present change; null clears a field."""

    model_config = ConfigDict(extra="forbid")

    preferred_channel: ConsentChannel | None = None
    max_contacts_per_month: int | None = Field(default=None, ge=0, le=100, description="0 means: do not contact")


class ContactPreferencesRead(BaseModel):
    customer_id: uuid.UUID
    preferred_channel: ConsentChannel | None
    max_contacts_per_month: int | None
    version: int


class ConsentedCustomer(BaseModel):
    customer_id: uuid.UUID
    status: ConsentStatus
    updated_at: datetime
