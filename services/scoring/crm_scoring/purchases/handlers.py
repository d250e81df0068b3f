"""Inbox handlers: the customer service's order and customer events, applied to the purchase copy, then
the touched customers rescored in the same transaction (so an event is applied and scored exactly once).

Events can arrive out of order (separate outbox messages, retries): a cancellation or refund seen before
its order creates the purchase from its own payload, and the later `order.created` only fills the product
lines; refunds keep the largest refunded total seen, and each refund's total and time go to the refund history.
A customer is locked (its known_customers row) before its purchases are read, so two deliveries for one
customer cannot both score a half-updated history."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.db import driver_connection
from crm_shared.inbox import EventHandler

from ..compute.incremental import rescore
from ..compute.read_barrier import hold_for_input_change
from .repository import money, upsert_attributes

_TOUCH_CUSTOMERS = """
INSERT INTO known_customers (customer_id) SELECT DISTINCT unnest($1::uuid[])
ON CONFLICT (customer_id) DO NOTHING
"""
# Lock in id order (no deadlock between deliveries) and resolve merged ids to their survivor.
_LOCK_AND_RESOLVE = """
SELECT customer_id, merged_into FROM known_customers WHERE customer_id = ANY($1::uuid[])
ORDER BY customer_id FOR UPDATE
"""

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
    rows = await conn.fetch(_LOCK_AND_RESOLVE, wanted)
    resolved = {r["customer_id"]: r["merged_into"] or r["customer_id"] for r in rows}
    survivors = sorted(set(resolved.values()) - set(resolved))
    if survivors:
        await conn.fetch(_LOCK_AND_RESOLVE, survivors)
    return resolved


def _uuid(v: Any) -> uuid.UUID:
    return v if isinstance(v, uuid.UUID) else uuid.UUID(str(v))


def _time(v: Any) -> datetime:
    return v if isinstance(v, datetime) else datetime.fromisoformat(str(v))


async def order_created(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    data = [e["data"] for e in events]
    owner = await _lock_resolved(session, (_uuid(d["customer_id"]) for d in data))
    conn = await driver_connection(session)
    await conn.execute(
        _INSERT_ORDERS,
        [_uuid(d["order_id"]) for d in data],
        [owner[_uuid(d["customer_id"])] for d in data],
        [_time(d["ordered_at"]) for d in data],
        [money(d["amount"]) for d in data],
        [d["currency"] for d in data],
        [
            msgspec.json.encode([ln["product_line"] for ln in d.get("lines") or [] if ln.get("product_line")]).decode()
            for d in data
        ],
    )
    await rescore(session, list(owner.values()))


async def order_adjusted(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    """`order.cancelled` and `order.refunded`. A refund of the whole amount takes the order out like a
    cancellation (from the refund's time): a fully refunded order is not a purchase occasion."""
    data = [e["data"] for e in events]
    owner = await _lock_resolved(session, (_uuid(d["customer_id"]) for d in data))
    cancelled_at, refunded_at = [], []
    for e, d in zip(events, data, strict=True):
        full_refund = money(d["refunded_total"]) >= money(d["amount"])  # type: ignore[operator]
        cancelled = e["type"] == "order.cancelled" or d.get("status") == "cancelled" or full_refund
        cancelled_at.append(_time(d["at"]) if cancelled else None)
        refunded_at.append(_time(d["at"]) if e["type"] == "order.refunded" else None)
    conn = await driver_connection(session)
    await conn.execute(
        _APPLY_ADJUSTMENTS,
        [_uuid(d["order_id"]) for d in data],
        [owner[_uuid(d["customer_id"])] for d in data],
        [_time(d["ordered_at"]) for d in data],
        [money(d["amount"]) for d in data],
        [d["currency"] for d in data],
        [money(d["refunded_total"]) for d in data],
        refunded_at,
        cancelled_at,
    )
    refunds = [
        (_uuid(d["order_id"]), money(d["refunded_total"]), at)
        for d, at in zip(data, refunded_at, strict=True)
        if at is not None and money(d["refunded_total"]) > 0  # type: ignore[operator]
    ]
    if refunds:
        await conn.execute(_RECORD_REFUNDS, *(list(column) for column in zip(*refunds, strict=True)))
    await rescore(session, list(owner.values()))


async def customer_changed(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    """`customer.created` / `customer.updated`: the attributes the composite score reads."""
    latest = {_uuid(e["data"]["customer"]["id"]): e["data"]["customer"] for e in events}
    owner = await _lock_resolved(session, latest)
    await upsert_attributes(await driver_connection(session), list(latest.values()))
    await rescore(session, [owner[i] for i in latest if owner[i] == i])


async def customer_merged(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    """Fold the merged customer's purchases into the survivor; the merged id resolves to the survivor from
    now on (also for ids merged into it before). Its history rows stay under its own id."""
    conn = await driver_connection(session)
    survivors: list[uuid.UUID] = []
    for e in events:
        survivor, merged = _uuid(e["data"]["survivor_id"]), _uuid(e["data"]["merged_id"])
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
        survivors.append(survivor)
    await rescore(session, survivors)


HANDLERS: dict[str, EventHandler] = {
    "order.created": order_created,
    "order.cancelled": order_adjusted,
    "order.refunded": order_adjusted,
    "customer.created": customer_changed,
    "customer.updated": customer_changed,
    "customer.merged": customer_merged,
}
