"""Data payloads of the events the suite publishes (the `data` member of the envelope), and one registry
of them: `EVENT_TYPES`, event type -> payload Struct.

The payloads are msgspec Structs so a consumer gets typed fields for about a microsecond per event:
`msgspec.convert(event["data"], OrderCreatedData)` on an envelope's decoded data (ISO strings become
datetimes and UUIDs, decimal strings Decimals), raising `msgspec.ValidationError` on a malformed payload.
Unknown fields are ignored, so a producer can add fields without breaking a consumer; change a payload
only by adding fields with a default. Nothing here imports a service's REST models: the customer service
builds these payloads from its own read models, and tests/customer/test_event_contracts.py checks that
every event it publishes converts into the Struct registered for its type.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Literal

from .campaigns import EVENT_TYPES as CAMPAIGN_EVENT_TYPES
from .churn import EVENT_TYPES as CHURN_EVENT_TYPES
from .common import Payload, Timestamp
from .scores import EVENT_TYPES as SCORE_EVENT_TYPES

CustomerKind = Literal["individual", "company"]
PaymentTerms = Literal["prepaid", "cash", "on_time", "on_account"]
BrandContribution = Literal["none", "public_figure", "senior_position"]
PreferredChannel = Literal["email", "sms", "mail", "phone"]
Severity = Literal["low", "medium", "high", "critical"]
ComplaintStatus = Literal["open", "in_progress", "resolved", "closed"]
ComplaintChannel = Literal["phone", "email", "sms", "mail", "visit", "chat", "web", "social", "other"]
ContactRelation = Literal["employee", "family_member", "assistant", "partner", "other"]
TagSource = Literal["manual", "rule"]
AnswerChannel = Literal["email", "sms", "mail", "phone", "visit", "chat", "web", "other"]
InteractionChannel = Literal["call", "email", "sms", "mail", "visit", "chat"]
Direction = Literal["inbound", "outbound"]
ConsentChannel = Literal["email", "sms", "mail", "phone"]
ConsentStatus = Literal["opted_in", "opted_out"]


# -- customers -----------------------------------------------------------------------------------


class AddressData(Payload, kw_only=True):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


class ExternalRefData(Payload, kw_only=True):
    partner: str
    external_id: str


class CustomerData(Payload, kw_only=True):
    """A customer as events carry it: the customer service's read view, with the real email, phone and
    address (events go to services, never to partners)."""

    id: uuid.UUID
    kind: CustomerKind
    display_name: str
    first_name: str | None
    last_name: str | None
    company_name: str | None
    email: str | None
    phone: str | None
    address: AddressData | None
    external_refs: list[ExternalRefData]
    company_id: uuid.UUID | None = None
    payment_terms: PaymentTerms | None = None
    brand_contribution: BrandContribution | None = None
    declared_budget: Decimal | None = None
    share_of_wallet: Decimal | None = None
    preferred_channel: PreferredChannel | None = None
    max_contacts_per_month: int | None = None
    time_zone: str | None = None  # IANA name; absent from events before it existed
    merged_into: uuid.UUID | None = None
    version: int
    created_at: Timestamp
    updated_at: Timestamp


class CustomerChangedData(Payload, kw_only=True):
    """`customer.created` / `customer.updated`: subject = customer id; `changed` names the fields."""

    customer: CustomerData
    changed: list[str] = []


class CustomerMergedData(Payload, kw_only=True):
    """`customer.merged`: `merged_id` was folded into `survivor_id` and resolves to it from now on;
    `moved` counts the rows moved per kind (orders, contacts, complaints, ...). Subject = the survivor."""

    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    moved: dict[str, int]
    filled: list[str] = []
    merged_by: str | None = None
    at: Timestamp


# -- orders --------------------------------------------------------------------------------------


class OrderLineData(Payload, kw_only=True):
    sku: str
    quantity: Decimal
    unit_price: Decimal
    name: str | None = None
    product_line: str | None = None


class OrderCreatedData(Payload, kw_only=True):
    """`order.created`: subject = customer id."""

    order_id: uuid.UUID
    customer_id: uuid.UUID
    partner: str
    external_id: str
    ordered_at: Timestamp
    currency: str
    amount: Decimal
    payment_method: str | None = None
    channel: str | None = None
    lines: list[OrderLineData] = []


class OrderCancelledData(Payload, kw_only=True):
    """`order.cancelled` (the whole order no longer counts) and `order.refunded` (refunded_total
    of amount no longer counts): subject = customer id."""

    order_id: uuid.UUID
    customer_id: uuid.UUID
    partner: str
    external_id: str
    ordered_at: Timestamp
    currency: str
    amount: Decimal
    status: str
    refunded_total: Decimal
    reason: str | None = None
    at: Timestamp


# -- complaints ----------------------------------------------------------------------------------


class ComplaintData(Payload, kw_only=True):
    id: uuid.UUID
    number: int
    customer_id: uuid.UUID
    contact_id: uuid.UUID | None
    category: str
    severity: Severity
    channel: ComplaintChannel
    subject: str
    description: str | None
    status: ComplaintStatus
    owner: str | None
    opened_at: Timestamp
    due_at: Timestamp
    first_contact_resolution: bool | None
    resolution_note: str | None
    resolved_at: Timestamp | None
    closed_at: Timestamp | None
    reopen_count: int
    version: int
    created_at: Timestamp
    updated_at: Timestamp


class ComplaintEventData(Payload, kw_only=True):
    """`complaint.opened`, `complaint.started`, `complaint.resolved`, `complaint.closed`,
    `complaint.reopened` and `complaint.updated`: subject = customer id. `from_status`/`to_status`
    describe the transition (equal on `complaint.updated`); `changed` names the fields a PATCH changed."""

    complaint: ComplaintData
    from_status: ComplaintStatus | None
    to_status: ComplaintStatus
    note: str | None = None
    changed_by: str | None = None
    changed: list[str] = []


# -- relations: contacts, tags, referrals, profile answers (subject = customer id) ---------------


class ContactData(Payload, kw_only=True):
    id: uuid.UUID
    customer_id: uuid.UUID
    first_name: str | None
    last_name: str | None
    relation: ContactRelation
    role: str | None
    email: str | None
    phone: str | None
    is_primary: bool
    version: int
    created_at: Timestamp
    updated_at: Timestamp


class ContactChangedData(Payload, kw_only=True):
    """`contact.created` / `contact.updated`: `changed` names the fields (a new primary contact
    clears the old one, which is reported as updated with `changed: ["is_primary"]`)."""

    contact: ContactData
    changed: list[str] = []


class ContactDeletedData(Payload, kw_only=True):
    """`contact.deleted`."""

    contact_id: uuid.UUID
    customer_id: uuid.UUID


class TagChangedData(Payload, kw_only=True):
    """`tag.added` / `tag.removed`: `by` is who added or removed it."""

    customer_id: uuid.UUID
    tag_key: str
    source: TagSource
    by: str | None = None


class ReferralData(Payload, kw_only=True):
    id: uuid.UUID
    referrer_id: uuid.UUID
    referred_id: uuid.UUID
    referred_at: Timestamp
    source: str | None
    created_at: Timestamp


class ReferralRecordedData(Payload, kw_only=True):
    """`referral.recorded`: subject = the referred customer; the referrer earns the reward."""

    referral: ReferralData


class ProfileAnswerData(Payload, kw_only=True):
    id: int
    customer_id: uuid.UUID
    question_key: str
    answer: str
    channel: AnswerChannel | None
    answered_at: Timestamp


class ProfileAnsweredData(Payload, kw_only=True):
    """`profile.answered`."""

    answer: ProfileAnswerData


# -- engagement: interactions, consent, contact preferences (subject = customer id) --------------


class InteractionLoggedData(Payload, kw_only=True):
    """`interaction.logged`: a contact with the customer was recorded."""

    interaction_id: uuid.UUID
    customer_id: uuid.UUID
    contact_id: uuid.UUID | None = None
    channel: InteractionChannel
    direction: Direction
    subject: str | None = None
    outcome: str | None = None
    staff: str | None = None
    occurred_at: Timestamp


class ConsentChangedData(Payload, kw_only=True):
    """`consent.changed`: the current consent of a customer on one channel changed (effective at `at`).
    `previous_status` is null when nothing was recorded before."""

    customer_id: uuid.UUID
    channel: ConsentChannel
    status: ConsentStatus
    source: str
    at: Timestamp
    previous_status: ConsentStatus | None = None


class ContactPreferencesChangedData(Payload, kw_only=True):
    """`contact_preferences.changed`: preferred channel and contact frequency; `changed` names the fields."""

    customer_id: uuid.UUID
    preferred_channel: ConsentChannel | None = None
    max_contacts_per_month: int | None = None
    changed: list[str] = []
    version: int


EVENT_TYPES: dict[str, type[Payload]] = {
    "customer.created": CustomerChangedData,
    "customer.updated": CustomerChangedData,
    "customer.merged": CustomerMergedData,
    "order.created": OrderCreatedData,
    "order.cancelled": OrderCancelledData,
    "order.refunded": OrderCancelledData,
    "complaint.opened": ComplaintEventData,
    "complaint.started": ComplaintEventData,
    "complaint.resolved": ComplaintEventData,
    "complaint.closed": ComplaintEventData,
    "complaint.reopened": ComplaintEventData,
    "complaint.updated": ComplaintEventData,
    "contact.created": ContactChangedData,
    "contact.updated": ContactChangedData,
    "contact.deleted": ContactDeletedData,
    "tag.added": TagChangedData,
    "tag.removed": TagChangedData,
    "referral.recorded": ReferralRecordedData,
    "profile.answered": ProfileAnsweredData,
    "interaction.logged": InteractionLoggedData,
    "consent.changed": ConsentChangedData,
    "contact_preferences.changed": ContactPreferencesChangedData,
    **SCORE_EVENT_TYPES,
    **CAMPAIGN_EVENT_TYPES,
}
EVENT_TYPES.update(CHURN_EVENT_TYPES)
