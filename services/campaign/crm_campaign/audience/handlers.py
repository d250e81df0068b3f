"""Inbox handlers keeping the audience read model current: customer, consent, preference and tag events
from the customer service, score and lifecycle events from the scoring service. Payloads are decoded into
the event contracts (crm_shared.schemas), each delivery applied as set-based statements."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.db import driver_connection
from crm_shared.inbox import EventHandler
from crm_shared.schemas.common import Payload
from crm_shared.schemas.events import (
    ConsentChangedData,
    ContactPreferencesChangedData,
    CustomerChangedData,
    CustomerData,
    CustomerMergedData,
    TagChangedData,
)
from crm_shared.schemas.scores import LifecycleChangedData, ScoreChangedData

from . import repository

P = TypeVar("P", bound=Payload)


def _decode(events: list[dict[str, Any]], kind: type[P]) -> list[P]:
    return [msgspec.convert(e["data"], kind) for e in events]


def customer_row(c: CustomerData) -> dict[str, Any]:
    return {
        "customer_id": c.id,
        "kind": c.kind,
        "display_name": c.display_name,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "email": c.email,
        "phone": c.phone,
        "region": c.address.region if c.address else None,
        "country": c.address.country if c.address else None,
        "preferred_channel": c.preferred_channel,
        "max_contacts_per_month": c.max_contacts_per_month,
        "time_zone": c.time_zone,
        "merged_into": c.merged_into,
        "customer_since": c.created_at,
        "customer_version": c.version,
    }


def _latest(rows: list[dict[str, Any]], version: str) -> list[dict[str, Any]]:
    """One row per customer (the newest), since one statement cannot upsert a key twice."""
    best: dict[Any, dict[str, Any]] = {}
    for row in rows:
        seen = best.get(row["customer_id"])
        if seen is None or (row[version] is not None and (seen[version] is None or row[version] >= seen[version])):
            best[row["customer_id"]] = row
    return list(best.values())


async def on_customer(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    rows = [customer_row(d.customer) for d in _decode(events, CustomerChangedData)]
    await repository.upsert_customers(await driver_connection(session), _latest(rows, "customer_version"))


async def on_merged(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    merges = {d.merged_id: d.survivor_id for d in _decode(events, CustomerMergedData)}
    conn = await driver_connection(session)
    await conn.execute(repository.MARK_MERGED, list(merges), list(merges.values()))


async def on_consent(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    # The latest change per customer and channel wins, whatever the order of arrival.
    latest: dict[str, dict[Any, tuple[Any, str, datetime]]] = {}
    for d in sorted(_decode(events, ConsentChangedData), key=lambda d: d.at):
        latest.setdefault(d.channel, {})[d.customer_id] = (d.customer_id, d.status, d.at)
    conn = await driver_connection(session)
    for channel, changes in latest.items():
        await repository.set_consents(conn, channel, list(changes.values()))


async def on_preferences(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    rows = [
        {
            "customer_id": d.customer_id,
            "preferred_channel": d.preferred_channel,
            "max_contacts_per_month": d.max_contacts_per_month,
            "customer_version": d.version,
        }
        for d in _decode(events, ContactPreferencesChangedData)
    ]
    rows = _latest(rows, "customer_version")
    conn = await driver_connection(session)
    await conn.execute(repository.SET_PREFERENCES, *repository.columns(rows, list(rows[0]) if rows else []))


async def on_tag_added(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    tags = _decode(events, TagChangedData)
    conn = await driver_connection(session)
    await conn.execute(repository.ADD_TAGS, [t.customer_id for t in tags], [t.tag_key for t in tags])


async def on_tag_removed(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    conn = await driver_connection(session)
    for t in _decode(events, TagChangedData):
        await conn.execute(repository.REMOVE_TAG, t.customer_id, t.tag_key)


async def on_score(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    rows = [
        {
            "customer_id": d.customer_id,
            "stage": None,  # a score change does not carry the stage: keep the one the read model has
            "abc_class": d.abc_class,
            "rfm_segment": d.rfm_segment,
            "gold": d.gold,
            "drag": d.drag,
            "clv": d.clv,
            "p_alive": d.p_alive,
            "churn_risk": d.churn_risk,
            "composite_score": d.composite_score,
            "scores_as_of": d.as_of,
        }
        for d in _decode(events, ScoreChangedData)
    ]
    await repository.upsert_scores(await driver_connection(session), _latest(rows, "scores_as_of"))


async def on_lifecycle(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    stages = {d.customer_id: d.to_stage for d in sorted(_decode(events, LifecycleChangedData), key=lambda d: d.as_of)}
    conn = await driver_connection(session)
    await conn.execute(repository.SET_STAGE, list(stages), list(stages.values()))


async def on_recomputed(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    """`scores.recomputed`: changed customers arrive as their own score events; a full refresh is the bulk
    sync's job (POST /api/v1/campaigns/sync), so there is nothing to apply here."""


HANDLERS: dict[str, EventHandler] = {
    "customer.created": on_customer,
    "customer.updated": on_customer,
    "customer.merged": on_merged,
    "consent.changed": on_consent,
    "contact_preferences.changed": on_preferences,
    "tag.added": on_tag_added,
    "tag.removed": on_tag_removed,
    "score.changed": on_score,
    "lifecycle.changed": on_lifecycle,
    "scores.recomputed": on_recomputed,
}
