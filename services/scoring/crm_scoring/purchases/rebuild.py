"""Rebuild the purchase copy from the customer service: its NDJSON order export (every order, current state)
and its customer list (the attributes the composite score reads). For recovery (a lost database, a consumer
that missed events beyond the outbox's retention) and for a first load; a batch recompute follows.

The customer service's client (crm_shared.clients.customer) streams the export and resumes it after the
last `seq` seen if the connection drops; this module loads what it reads. The export carries no refund time:
a refund counts from the order's last update (`updated_at`), which is when the customer service recorded it;
a full refund counts as a cancellation from then, as in the event handlers. The exported total joins the
refund history beside the refunds the events recorded (whose exact times stay); partial refunds before it
that no event brought are not known.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.clients.customer import CustomerClient, ExportedOrder, service_auth
from crm_shared.db import driver_connection
from crm_shared.http import ServiceAuth

from ..config import Settings
from .repository import upsert_attributes


def customer_service_auth(settings: Settings) -> ServiceAuth:
    """The scoring service as the customer service's caller (read scopes only, never personal data)."""
    return service_auth(settings.principal_key_values, caller=settings.service_name)


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


def _record(o: ExportedOrder) -> tuple[object, ...]:
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


async def rebuild_orders(session: AsyncSession, client: CustomerClient, *, chunk: int = 10_000) -> RebuildStats:
    """Upsert every exported order into `purchases` (the customer service's state wins)."""
    stats, rows, export = RebuildStats(), [], client.export_orders()
    async for order in export:
        rows.append(_record(order))
        if len(rows) >= chunk:
            await _flush(session, rows)
            stats.orders += len(rows)
            rows = []
    if rows:
        await _flush(session, rows)
        stats.orders += len(rows)
    stats.resumed = export.resumed
    return stats


async def rebuild_customers(session: AsyncSession, client: CustomerClient) -> int:
    """Store every customer's score attributes, a page at a time."""
    conn = await driver_connection(session)
    count = 0
    async for customers in client.all_customers():
        await upsert_attributes(conn, customers)
        count += len(customers)
    return count


async def rebuild(session: AsyncSession, client: CustomerClient) -> RebuildStats:
    stats = await rebuild_orders(session, client)
    stats.customers = await rebuild_customers(session, client)
    return stats
