"""Consent rules: history appended and current state upserted together, so an opt-out is effective at
once; contact preferences (preferred channel and frequency) live on the customer. A partner reads and
sets these only for the customers it holds a reference to (any other is not found)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared import outbox
from crm_shared.auth import Principal
from crm_shared.db import driver_connection
from crm_shared.pagination import Page, PageRequest

from ..customers.service import live_customer_id
from ..events import envelope
from . import repository
from .exceptions import StalePreferences
from .models import CHANNELS
from .schemas import (
    ConsentedCustomer,
    ConsentOverview,
    ConsentRead,
    ConsentRecordRead,
    ConsentSet,
    ContactPreferencesRead,
    ContactPreferencesSet,
)


async def _lock_live(session: AsyncSession, principal: Principal, customer_id: uuid.UUID) -> asyncpg.Record:
    """The live customer row (a merged id follows to its survivor), locked FOR NO KEY UPDATE; not
    found when unknown or not visible to `principal`."""
    live = await live_customer_id(session, customer_id, lock="NO KEY UPDATE", principal=principal)
    row = await repository.lock_customer(await driver_connection(session), live)
    assert row is not None  # the walk above holds its lock
    return row


@dataclass(slots=True)
class ConsentChange:
    customer_id: uuid.UUID
    consent: ConsentRead
    changed: bool


async def set_consent(
    session: AsyncSession, *, principal: Principal, customer_id: uuid.UUID, channel: str, data: ConsentSet
) -> ConsentChange:
    live = (await _lock_live(session, principal, customer_id))["id"]
    conn = await driver_connection(session)
    current = await repository.current(conn, live, channel)
    if current is not None and current["status"] == data.status:
        return ConsentChange(live, ConsentRead(**current), changed=False)
    row = await repository.record(conn, live, channel, data.status, data.source)
    event = envelope(
        "consent.changed",
        subject=live,
        data={
            "customer_id": str(live),
            "channel": channel,
            "status": data.status,
            "source": data.source,
            "at": row["updated_at"].astimezone(UTC).isoformat(),
            "previous_status": current["status"] if current else None,
        },
    )
    await outbox.publish(session, [event])
    return ConsentChange(live, ConsentRead(**row), changed=True)


async def overview(session: AsyncSession, *, principal: Principal, customer_id: uuid.UUID) -> ConsentOverview:
    live = await live_customer_id(session, customer_id, lock=None, principal=principal)
    customer, rows = await repository.overview(await driver_connection(session), live)
    known = {r["channel"]: ConsentRead(**r) for r in rows}
    return ConsentOverview(
        customer_id=live,
        consents=[known.get(c) or ConsentRead(channel=c, status="unknown") for c in CHANNELS],
        preferred_channel=customer["preferred_channel"],
        max_contacts_per_month=customer["max_contacts_per_month"],
    )


async def history(
    session: AsyncSession, *, principal: Principal, customer_id: uuid.UUID, channel: str | None, page: PageRequest
) -> Page[ConsentRecordRead]:
    live = await live_customer_id(session, customer_id, lock=None, principal=principal)
    binding = {"customer": str(live), "channel": channel}
    after = page.after(binding, shape=(datetime, int))
    rows = await repository.history_page(await driver_connection(session), live, channel, after, page.limit + 1)
    items, next_cursor = page.cut(rows, binding, lambda r: [r["recorded_at"], r["id"]])
    return Page[ConsentRecordRead](items=[ConsentRecordRead(**r) for r in items], next_cursor=next_cursor)


async def set_preferences(
    session: AsyncSession,
    *,
    principal: Principal,
    customer_id: uuid.UUID,
    data: ContactPreferencesSet,
    if_match: int | None,
) -> ContactPreferencesRead:
    row = await _lock_live(session, principal, customer_id)
    conn = await driver_connection(session)
    if if_match is not None and row["version"] != if_match:
        raise StalePreferences(row["version"])
    changes = data.model_dump(exclude_unset=True)
    values = {k: v for k, v in changes.items() if row[k] != v}
    state = {k: values.get(k, row[k]) for k in ("preferred_channel", "max_contacts_per_month")}
    if not values:
        return ContactPreferencesRead(customer_id=row["id"], version=row["version"], **state)
    version = await repository.update_preferences(conn, row["id"], values)
    result = ContactPreferencesRead(customer_id=row["id"], version=version, **state)
    event = envelope(
        "contact_preferences.changed",
        subject=row["id"],
        data={**result.model_dump(mode="json"), "changed": list(values)},
    )
    await outbox.publish(session, [event])
    return result


async def consented(session: AsyncSession, *, channel: str, status: str, page: PageRequest) -> Page[ConsentedCustomer]:
    binding = {"channel": channel, "status": status}
    after = page.after(binding, shape=(uuid.UUID,))
    conn = await driver_connection(session)
    rows = await repository.consented_page(conn, channel, status, after[0] if after else None, page.limit + 1)
    items, next_cursor = page.cut(rows, binding, lambda r: [r["customer_id"]])
    return Page[ConsentedCustomer](items=[ConsentedCustomer(**r) for r in items], next_cursor=next_cursor)
