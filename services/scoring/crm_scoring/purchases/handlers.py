"""Inbox handlers: the customer service's order and customer events, applied to the purchase copy, then
the touched customers rescored in the same transaction (so an event is applied and scored exactly once).

Events can arrive out of order (separate outbox messages, retries): a cancellation or refund seen before
its order creates the purchase from its own payload, and the later `order.created` only fills the product
lines; refunds keep the largest refunded total seen, and each refund's total and time go to the refund history.
A customer is locked (its known_customers row) before its purchases are read, so two deliveries for one
customer cannot both score a half-updated history. Payloads are decoded into the event contracts
(crm_shared.schemas.events), not read as dicts."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.db import driver_connection
from crm_shared.inbox import EventHandler
from crm_shared.schemas.common import Payload
from crm_shared.schemas.events import CustomerChangedData, CustomerMergedData, OrderCancelledData, OrderCreatedData

from ..compute.incremental import rescore
from ..compute.read_barrier import hold_for_input_change
from .repository import survivors, upsert_attributes

P = TypeVar("P", bound=Payload)

_TOUCH_CUSTOMERS = """
INSERT INTO known_customers (customer_id) SELECT DISTINCT unnest($1::uuid[])
ON CONFLICT (customer_id) DO NOTHING
"""
# In id order: no deadlock between deliveries.
_LOCK = "SELECT FROM known_customers WHERE customer_id = ANY($1::uuid[]) ORDER BY customer_id FOR UPDATE"

_INSERT_ORDERS = """
INSERT INTO purchases (order_id, customer_id, ordered_at, amount, currency, product_lines)
SELECT t.order_id, t.customer_id, t.ordered_at, t.amount, t.currency,
       ARRAY(SELECT DISTINCT jsonb_array_elements_text(t.lines::jsonb) ORDER BY 1)
FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::numeric[], $5::text[], $6::text[])
     AS t(order_id, customer_id, ordered_at, amount, currency, lines)
ON CONFLICT (order_id) DO UPDATE SET product_lines = EXCLUDED.product_lines, updated_at = now()
WHERE purchases.product_lines = '{}'
"""

_APPLY_ADJUSTMENTS = """
INSERT INTO purchases AS p (order_id, customer_id, ordered_at, amount, currency, refunded_amount, refunded_at,
                            cancelled_at)
SELECT t.order_id, t.customer_id, t.ordered_at, t.amount, t.currency, t.refunded, t.refunded_at, t.cancelled_at
FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::numeric[], $5::text[], $6::numeric[],
            $7::timestamptz[], $8::timestamptz[])
     AS t(order_id, customer_id, ordered_at, amount, currency, refunded, refunded_at, cancelled_at)
ON CONFLICT (order_id) DO UPDATE SET
    cancelled_at = coalesce(p.cancelled_at, EXCLUDED.cancelled_at),
    refunded_at = CASE WHEN EXCLUDED.refunded_amount > p.refunded_amount THEN EXCLUDED.refunded_at
                       ELSE p.refunded_at END,
    refunded_amount = greatest(p.refunded_amount, EXCLUDED.refunded_amount),
    updated_at = now()
"""

# Each refund as (order, refunded total then, when): totals only grow, so the pair names the refund.
_RECORD_REFUNDS = """
INSERT INTO purchase_refunds (order_id, refunded_total, refunded_at)
SELECT * FROM unnest($1::uuid[], $2::numeric[], $3::timestamptz[])
ON CONFLICT (order_id, refunded_total) DO NOTHING
"""


async def _lock_resolved(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Known, locked customers: each id -> the id its purchases belong to (the survivor of a merge)."""
    conn = await driver_connection(session)
    await hold_for_input_change(conn)  # every handler starts here, before it changes any input
    wanted = sorted(set(ids))
    await conn.execute(_TOUCH_CUSTOMERS, wanted)
    await conn.execute(_LOCK, wanted)
    resolved = await survivors(conn, wanted)  # after the lock: no merge of these ids can commit meanwhile
    others = sorted(set(resolved.values()) - set(resolved))
    if others:
        await conn.execute(_LOCK, others)
    return resolved


def _decode(events: list[dict[str, Any]], kind: type[P]) -> list[P]:
    """The events' payloads as their contract's Struct (~2 us an order); a payload that breaks the contract
    raises, which sets the event aside as a dead letter (the inbox bisects the group to find it)."""
    return [msgspec.convert(e["data"], kind) for e in events]


def _product_lines(order: OrderCreatedData) -> str:
    """The order's product lines as a JSON array (the statement keeps them distinct and sorted)."""
    return msgspec.json.encode([ln.product_line for ln in order.lines if ln.product_line]).decode()


async def order_created(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    orders = _decode(events, OrderCreatedData)
    owner = await _lock_resolved(session, (o.customer_id for o in orders))
    conn = await driver_connection(session)
    await conn.execute(
        _INSERT_ORDERS,
        [o.order_id for o in orders],
        [owner[o.customer_id] for o in orders],
        [o.ordered_at for o in orders],
        [o.amount for o in orders],
        [o.currency for o in orders],
        [_product_lines(o) for o in orders],
    )
    await rescore(session, list(owner.values()))


async def order_adjusted(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    """`order.cancelled` and `order.refunded`. A refund of the whole amount takes the order out like a
    cancellation (from the refund's time): a fully refunded order is not a purchase occasion."""
    orders = _decode(events, OrderCancelledData)
    owner = await _lock_resolved(session, (o.customer_id for o in orders))
    cancelled_at: list[datetime | None] = []
    refunded_at: list[datetime | None] = []
    for e, o in zip(events, orders, strict=True):
        cancelled = e["type"] == "order.cancelled" or o.status == "cancelled" or o.refunded_total >= o.amount
        cancelled_at.append(o.at if cancelled else None)
        refunded_at.append(o.at if e["type"] == "order.refunded" else None)
    conn = await driver_connection(session)
    await conn.execute(
        _APPLY_ADJUSTMENTS,
        [o.order_id for o in orders],
        [owner[o.customer_id] for o in orders],
        [o.ordered_at for o in orders],
        [o.amount for o in orders],
        [o.currency for o in orders],
        [o.refunded_total for o in orders],
        refunded_at,
        cancelled_at,
    )
    refunds = [
        (o.order_id, o.refunded_total, at)
        for o, at in zip(orders, refunded_at, strict=True)
        if at is not None and o.refunded_total > 0
    ]
    if refunds:
        await conn.execute(_RECORD_REFUNDS, *(list(column) for column in zip(*refunds, strict=True)))
    await rescore(session, list(owner.values()))


async def customer_changed(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    """`customer.created` / `customer.updated`: the attributes the composite score reads."""
    latest = {d.customer.id: d.customer for d in _decode(events, CustomerChangedData)}
    owner = await _lock_resolved(session, latest)
    await upsert_attributes(await driver_connection(session), list(latest.values()))
    await rescore(session, [owner[i] for i in latest if owner[i] == i])


async def customer_merged(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    """Fold the merged customer's purchases into the survivor; the merged id resolves to the survivor from
    now on (also for ids merged into it before). Its history rows stay under its own id."""
    conn = await driver_connection(session)
    rescored: list[uuid.UUID] = []
    for merge in _decode(events, CustomerMergedData):
        survivor, merged = merge.survivor_id, merge.merged_id
        await _lock_resolved(session, [survivor, merged])
        await conn.execute(
            "UPDATE known_customers SET merged_into = $1, updated_at = now() "
            "WHERE customer_id = $2 OR merged_into = $2",
            survivor,
            merged,
        )
        await conn.execute(
            "UPDATE purchases SET customer_id = $1, updated_at = now() WHERE customer_id = $2", survivor, merged
        )
        await conn.execute("DELETE FROM customer_scores WHERE customer_id = $1", merged)
        rescored.append(survivor)
    await rescore(session, rescored)


HANDLERS: dict[str, EventHandler] = {
    "order.created": order_created,
    "order.cancelled": order_adjusted,
    "order.refunded": order_adjusted,
    "customer.created": customer_changed,
    "customer.updated": customer_changed,
    "customer.merged": customer_merged,
}
