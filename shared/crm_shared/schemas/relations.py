"""A customer's relations: contacts, positioning tags, referrals and profile answers. The read
contracts of the customer service, and the data payloads of their events (subject = customer id)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from ..pii import PiiEmail, PiiPhone
from .common import ReadModel

ContactRelation = Literal["employee", "family_member", "assistant", "partner", "other"]
TagSource = Literal["manual", "rule"]
AnswerChannel = Literal["email", "sms", "mail", "phone", "visit", "chat", "web", "other"]


class ContactRead(ReadModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    first_name: str | None
    last_name: str | None
    relation: ContactRelation
    role: str | None
    email: PiiEmail | None
    phone: PiiPhone | None
    is_primary: bool
    version: int = Field(description="row version; the ETag of this contact")
    created_at: datetime
    updated_at: datetime


class TagRead(ReadModel):
    key: str
    label: str
    description: str | None
    system: bool = Field(description="seeded by the system; cannot be deleted")
    created_at: datetime


class CustomerTagRead(ReadModel):
    key: str
    label: str
    system: bool
    source: TagSource
    added_by: str | None
    added_at: datetime


class ReferralRead(ReadModel):
    id: uuid.UUID
    referrer_id: uuid.UUID = Field(description="the customer who made the introduction")
    referred_id: uuid.UUID = Field(description="the customer who was introduced")
    referred_at: datetime
    source: str | None
    created_at: datetime


class ProfileAnswerRead(ReadModel):
    id: int
    customer_id: uuid.UUID
    question_key: str
    answer: str
    channel: AnswerChannel | None
    answered_at: datetime


# Event payloads (the `data` member of the envelope).


class ContactChangedData(BaseModel):
    """`contact.created` / `contact.updated`: `changed` names the fields (a new primary contact
    clears the old one, which is reported as updated with `changed: ["is_primary"]`)."""

    contact: ContactRead
    changed: list[str] = []


class ContactDeletedData(BaseModel):
    """`contact.deleted`."""

    contact_id: uuid.UUID
    customer_id: uuid.UUID


class TagChangedData(BaseModel):
    """`tag.added` / `tag.removed`: `by` is who added or removed it."""

    customer_id: uuid.UUID
    tag_key: str
    source: TagSource
    by: str | None = None


class ReferralRecordedData(BaseModel):
    """`referral.recorded`: subject = the referred customer; the referrer earns the reward."""

    referral: ReferralRead


class ProfileAnsweredData(BaseModel):
    """`profile.answered`."""

    answer: ProfileAnswerRead


EVENT_TYPES = {
    "contact.created": ContactChangedData,
    "contact.updated": ContactChangedData,
    "contact.deleted": ContactDeletedData,
    "tag.added": TagChangedData,
    "tag.removed": TagChangedData,
    "referral.recorded": ReferralRecordedData,
    "profile.answered": ProfileAnsweredData,
}
