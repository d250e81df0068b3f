"""Contact rules: names, one primary contact per customer, optimistic concurrency, events. A partner
reaches only the contacts of customers it holds a reference to (any other customer is not found)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared import outbox
from crm_shared.auth import Principal
from crm_shared.errors import FieldError, Unprocessable
from crm_shared.pagination import Page, PageRequest
from crm_shared.pii import SHOW_PII

from ..customers import service as customers
from ..events import envelope
from . import repository
from .exceptions import ContactInUse, ContactNotFound, IfMatchRequired, StaleContact
from .models import Contact
from .schemas import NAME_FIELDS, ContactCreate, ContactFilters, ContactRead, ContactUpdate


def to_read(contact: Contact) -> ContactRead:
    return ContactRead.model_validate(contact)


def _changed_event(type_: str, contact: Contact, changed: Sequence[str] = ()) -> dict[str, Any]:
    data = {"contact": to_read(contact).model_dump(mode="json", context=SHOW_PII), "changed": list(changed)}
    return envelope(type_, subject=contact.customer_id, data=data)


def _require_name(first_name: str | None, last_name: str | None) -> None:
    if not (first_name or last_name):
        raise Unprocessable(
            "a contact needs a name",
            errors=[FieldError(detail="first_name or last_name is required", pointer="#/first_name")],
        )


async def _customer_id(session: AsyncSession, principal: Principal, customer_id: uuid.UUID) -> uuid.UUID:
    """The live customer the contacts belong to; not found unless the caller may see it."""
    return (await customers.get(session, customer_id, principal=principal)).id


async def create(
    session: AsyncSession, *, principal: Principal, customer_id: uuid.UUID, data: ContactCreate
) -> Contact:
    _require_name(data.first_name, data.last_name)
    owner = await _customer_id(session, principal, customer_id)
    events = []
    if data.is_primary:
        await repository.lock_customer(session, owner)
        cleared = await repository.clear_primary(session, owner)
        events += [_changed_event("contact.updated", c, ["is_primary"]) for c in cleared]
    contact = await repository.add(session, {**data.model_dump(), "customer_id": owner})
    events.append(_changed_event("contact.created", contact))
    await outbox.publish(session, events)
    return contact


async def get(session: AsyncSession, *, principal: Principal, customer_id: uuid.UUID, contact_id: uuid.UUID) -> Contact:
    contact = await repository.get(session, await _customer_id(session, principal, customer_id), contact_id)
    if contact is None:
        raise ContactNotFound(contact_id)
    return contact


async def list_contacts(
    session: AsyncSession, *, principal: Principal, customer_id: uuid.UUID, filters: ContactFilters, page: PageRequest
) -> Page[ContactRead]:
    owner = await _customer_id(session, principal, customer_id)
    return await page.fetch(
        session,
        repository.of_customer(owner, filters.relation),
        order=(Contact.created_at, Contact.id),
        binding={"customer_id": str(owner), **filters.model_dump(mode="json")},
        item=to_read,
    )


async def update(
    session: AsyncSession,
    *,
    principal: Principal,
    customer_id: uuid.UUID,
    contact_id: uuid.UUID,
    data: ContactUpdate,
    if_match: int | None,
) -> Contact:
    if if_match is None:
        raise IfMatchRequired()
    owner = await _customer_id(session, principal, customer_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("is_primary"):  # the customer first, then the contact: the order create locks in
        await repository.lock_customer(session, owner)
    contact = await repository.get(session, owner, contact_id, for_update=True)
    if contact is None:
        raise ContactNotFound(contact_id)
    if contact.version != if_match:
        raise StaleContact(contact.version)
    changed = [k for k, v in changes.items() if getattr(contact, k) != v]
    if not changed:
        return contact
    values = {k: changes[k] for k in changed}
    _require_name(*(values.get(f, getattr(contact, f)) for f in NAME_FIELDS))
    events = []
    if values.get("is_primary"):
        cleared = await repository.clear_primary(session, owner, keep=contact.id)
        events += [_changed_event("contact.updated", c, ["is_primary"]) for c in cleared]
    await repository.update_fields(session, contact, values)
    events.append(_changed_event("contact.updated", contact, changed))
    await outbox.publish(session, events)
    return contact


async def delete(
    session: AsyncSession, *, principal: Principal, customer_id: uuid.UUID, contact_id: uuid.UUID, if_match: int | None
) -> None:
    owner = await _customer_id(session, principal, customer_id)
    contact = await repository.get(session, owner, contact_id, for_update=True)
    if contact is None:
        raise ContactNotFound(contact_id)
    if if_match is not None and contact.version != if_match:
        raise StaleContact(contact.version)
    if await repository.is_referenced(session, contact.id):
        raise ContactInUse()
    await repository.remove(session, contact)
    data = {"contact_id": str(contact.id), "customer_id": str(owner)}
    await outbox.publish(session, [envelope("contact.deleted", subject=owner, data=data)])
