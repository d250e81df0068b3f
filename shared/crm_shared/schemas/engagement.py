"""Event payloads of customer engagement and hygiene: interactions, consent, contact preferences, merges
(the `data` member of the envelope; subject = the customer id, the survivor's for a merge)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

InteractionChannel = Literal["call", "email", "sms", "mail", "visit", "chat"]
Direction = Literal["inbound", "outbound"]
ConsentChannel = Literal["email", "sms", "mail", "phone"]
ConsentStatus = Literal["opted_in", "opted_out"]


class InteractionLoggedData(BaseModel):
    """`interaction.logged`: a contact with the customer was recorded."""

    interaction_id: uuid.UUID
    customer_id: uuid.UUID
    contact_id: uuid.UUID | None = None
    channel: InteractionChannel
    direction: Direction
    subject: str | None = None
    outcome: str | None = None
    staff: str | None = None
    occurred_at: datetime


class ConsentChangedData(BaseModel):
    """`consent.changed`: the current consent of a customer on one channel changed (effective at `at`).
    `previous_status` is null when nothing was recorded before."""

    customer_id: uuid.UUID
    channel: ConsentChannel
    status: ConsentStatus
    source: str
    at: datetime
    previous_status: ConsentStatus | None = None


class ContactPreferencesChangedData(BaseModel):
    """`contact_preferences.changed`: preferred channel and contact frequency; `changed` names the fields."""

    customer_id: uuid.UUID
    preferred_channel: ConsentChannel | None = None
    max_contacts_per_month: int | None = None
    changed: list[str] = []
    version: int


class CustomerMergedData(BaseModel):
    """`customer.merged`: `merged_id` was folded into `survivor_id` and resolves to it from now on;
    `moved` counts the rows moved per kind (orders, contacts, complaints, ...)."""

    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    moved: dict[str, int]
    filled: list[str] = []
    merged_by: str | None = None
    at: datetime


EVENT_TYPES = {
    "interaction.logged": InteractionLoggedData,
    "consent.changed": ConsentChangedData,
    "contact_preferences.changed": ContactPreferencesChangedData,
    "customer.merged": CustomerMergedData,
}
