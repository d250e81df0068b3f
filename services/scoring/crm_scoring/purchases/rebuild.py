"""Rebuild the purchase copy from the customer service: its NDJSON order export (every order, current state)
and its customer list (the attributes the composite score reads). For recovery (a lost database, a consumer
that missed events beyond the outbox's retention) and for a first load; a batch recompute follows.

The export is read as a stream and resumed after the last `seq` seen if the connection drops. The export
carries no refund time: a refund counts from the order's last update (`updated_at`), which is when the
customer service recorded it; a full refund counts as a cancellation from then, as in the event handlers.
The exported total joins the refund history beside the refunds the events recorded (whose exact times stay);
partial refunds before it that no event brought are not known.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import httpx
import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.db import driver_connection
from crm_shared.http import ServiceAuth

from ..config import Settings
from .repository import upsert_attributes

log = logging.getLogger("crm.scoring.rebuild")
EXPORT_PATH = "/api/v1/orders/export"
CUSTOMERS_PATH = "/api/v1/customers"
# What the rebuild reads from the customer service, as the scoring service (never personal data).
CUSTOMER_SCOPES = ("orders:read", "customers:read")


def customer_service_auth(settings: Settings) -> ServiceAuth:
    return ServiceAuth(
        settings.principal_key_values, caller=settings.service_name, audience="customer", scopes=CUSTOMER_SCOPES
    )


class _Line(msgspec.Struct):
    product_line: str | None = None


class _Order(msgspec.Struct):
    seq: int
    id: uuid.UUID
    customer_id: uuid.UUID
    ordered_at: datetime
    currency: str
    amount: Decimal
    status: str
    refunded_amount: Decimal
    updated_at: datetime
    cancelled_at: datetime | None = None
    lines: list[_Line] | None = None


_decode_order = msgspec.json.Decoder(_Order)

_STAGE = """
CREATE TEMP TABLE rebuilt_orders (
    order_id uuid, customer_id uuid, ordered_at timestamptz, amount numeric, currency text, refunded numeric,
    refunded_at timestamptz, cancelled_at timestamptz, product_lines text[]
) ON COMMIT DROP
"""
_MERGE = """
WITH known AS (
    INSERT INTO known_customers (customer_id) SELECT DISTINCT customer_id FROM rebuilt_orders
    ON CONFLICT (customer_id) DO NOTHING
)
INSERT INTO purchases AS p (order_id, customer_id, ordered_at, amount, currency, refunded_amount, refunded_at,
                            cancelled_at, product_lines)
SELECT order_id, customer_id, ordered_at, amount, currency, refunded, refunded_at, cancelled_at, product_lines
FROM rebuilt_orders
ON CONFLICT (order_id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, ordered_at = EXCLUDED.ordered_at, amount = EXCLUDED.amount,
    currency = EXCLUDED.currency, refunded_amount = EXCLUDED.refunded_amount, refunded_at = EXCLUDED.refunded_at,
    cancelled_at = EXCLUDED.cancelled_at, product_lines = EXCLUDED.product_lines, updated_at = now()
"""
_MERGE_REFUNDS = """
INSERT INTO purchase_refunds (order_id, refunded_total, refunded_at)
SELECT order_id, refunded, refunded_at FROM rebuilt_orders WHERE refunded > 0 AND refunded_at IS NOT NULL
ON CONFLICT (order_id, refunded_total) DO NOTHING
"""


@dataclass
class RebuildStats:
    orders: int = 0
    customers: int = 0
    resumed: int = 0


def _record(o: _Order) -> tuple[object, ...]:
    full_refund = o.refunded_amount >= o.amount > 0
    refunded_at = o.updated_at if o.refunded_amount > 0 else None
    cancelled_at = o.cancelled_at or (o.updated_at if full_refund else None)
    lines = sorted({ln.product_line for ln in o.lines or () if ln.product_line})
    return (
        o.id,
        o.customer_id,
        o.ordered_at,
        o.amount,
        o.currency,
        o.refunded_amount,
        refunded_at,
        cancelled_at,
        lines,
    )


async def _flush(session: AsyncSession, rows: list[tuple[object, ...]]) -> None:
    conn = await driver_connection(session)
    await conn.execute("DROP TABLE IF EXISTS rebuilt_orders")
    await conn.execute(_STAGE)
    await conn.copy_records_to_table("rebuilt_orders", records=rows)
    await conn.execute(_MERGE)
    await conn.execute(_MERGE_REFUNDS)


async def rebuild_orders(
    session: AsyncSession, client: httpx.AsyncClient, *, chunk: int = 10_000, max_resumes: int = 5
) -> RebuildStats:
    """Upsert every exported order into `purchases` (the customer service's state wins)."""
    stats, after, rows = RebuildStats(), 0, []
    while True:
        try:
            async with client.stream("GET", EXPORT_PATH, params={"after": after}) as response:
                response.raise_for_status()
                async for line in response.aiter_lines():
                    if not line:
                        continue
                    order = _decode_order.decode(line)
                    rows.append(_record(order))
                    after = order.seq
                    if len(rows) >= chunk:
                        await _flush(session, rows)
                        stats.orders += len(rows)
                        rows = []
            break
        except httpx.TransportError as exc:
            if stats.resumed >= max_resumes:
                raise
            stats.resumed += 1
            log.warning("export interrupted after seq %s (%s): resuming", after, exc)
    if rows:
        await _flush(session, rows)
        stats.orders += len(rows)
    return stats


async def rebuild_customers(session: AsyncSession, client: httpx.AsyncClient) -> int:
    """Page through the customer list and store each customer's score attributes."""
    conn = await driver_connection(session)
    cursor: str | None = None
    count = 0
    while True:
        params: dict[str, str | int] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(CUSTOMERS_PATH, params=params)).raise_for_status().json()
        items = page["items"]
        await upsert_attributes(conn, items)
        count += len(items)
        cursor = page.get("next_cursor")
        if not cursor:
            return count


async def rebuild(session: AsyncSession, client: httpx.AsyncClient) -> RebuildStats:
    stats = await rebuild_orders(session, client)
    stats.customers = await rebuild_customers(session, client)
    return stats
