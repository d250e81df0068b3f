"""The inbox side: each event the other services publish becomes one delivery per subscription that
takes it (its types, its filters, and what its owner may receive: crm_webhooks.catalogue). Applied once
per event: the shared inbox records event ids, and a delivery is unique per (subscription, event)."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.events import new_ids
from crm_shared.inbox import EventHandler

from ..catalogue import SUBSCRIBABLE
from ..subscriptions import repository as subscriptions
from ..subscriptions.rules import Selector
from ..subscriptions.service import audience
from . import repository


def body(event_type: str, timestamp: str, data: dict[str, Any], event_id: str | uuid.UUID) -> bytes:
    """What a receiver gets: the Standard Webhooks payload shape (type, timestamp, data) and the event id."""
    return msgspec.json.encode({"type": event_type, "timestamp": timestamp, "data": data, "event_id": str(event_id)})


async def fan_out(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    selectors = [(s.id, Selector(s.event_types, s.filters, audience(s))) for s in await subscriptions.every(session)]
    if not selectors:
        return
    by_type: dict[str, list[tuple[uuid.UUID, Selector]]] = {}
    messages, owed = [], []
    for event in events:
        event_type, data = event["type"], event["data"]
        if event_type not in by_type:
            by_type[event_type] = [(i, selector) for i, selector in selectors if selector.selects(event_type)]
        takers = [i for i, selector in by_type[event_type] if selector.passes(data)]
        if takers:
            messages.append((event["id"], event_type, body(event_type, event["time"], data, event["id"])))
            owed += [(subscription_id, event["id"], event_type) for subscription_id in takers]
    ids = new_ids(len(owed))
    await repository.insert(
        session, messages, [(delivery_id, *row) for delivery_id, row in zip(ids, owed, strict=True)]
    )


HANDLERS: dict[str, EventHandler] = dict.fromkeys(SUBSCRIBABLE, fan_out)
