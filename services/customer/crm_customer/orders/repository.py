"""Every query of the orders domain. The bulk statements go through the session's own asyncpg
connection (same transaction) with column arrays and unnest: one round trip per statement for a
whole batch, no per-row SQL, no ORM objects on the hot path."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Order
from .schemas import OrderFilters


async def customer_ids_for_refs(conn: asyncpg.Connection, partner: str, refs: Sequence[str]) -> dict[str, uuid.UUID]:
    rows = await conn.fetch(
        "SELECT external_id, customer_id FROM customer_refs WHERE partner = $1 AND external_id = ANY($2::text[])",
        partner,
        refs,
    )
    return {r[0]: r[1] for r in rows}


async def claim_refs(
    conn: asyncpg.Connection, partner: str, refs: Sequence[str], ids: Sequence[uuid.UUID]
) -> dict[str, uuid.UUID]:
    """Insert (partner, ref) -> new id; return the refs this transaction won. A concurrent batch
    creating the same customer waits here and then finds the winner's row."""
    rows = await conn.fetch(
        """
        INSERT INTO customer_refs (partner, external_id, customer_id)
        SELECT $1, r, c FROM unnest($2::text[], $3::uuid[]) AS t(r, c)
        ON CONFLICT DO NOTHING RETURNING external_id, customer_id
        """,
        partner,
        refs,
        ids,
    )
    return {r[0]: r[1] for r in rows}


async def insert_customers(conn: asyncpg.Connection, columns: dict[str, list[Any]]) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        INSERT INTO customers (id, kind, display_name, first_name, last_name, company_name, email, phone, address,
                               time_zone)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                             $8::text[], $9::jsonb[], $10::text[])
        RETURNING id, version, created_at, updated_at
        """,
        columns["id"],
        columns["kind"],
        columns["display_name"],
        columns["first_name"],
        columns["last_name"],
        columns["company_name"],
        columns["email"],
        columns["phone"],
        columns["address"],
        columns["time_zone"],
    )


ORDER_COLUMNS = (
    "id",
    "partner",
    "external_id",
    "customer_id",
    "ordered_at",
    "currency",
    "amount",
    "payment_method",
    "channel",
    "lines",
)


COPY_FROM_ROWS = 200  # below this, COPY's set-up (savepoint, column look-up) costs more than it saves


async def insert_orders(conn: asyncpg.Connection, records: list[tuple[Any, ...]]) -> dict[str, uuid.UUID]:
    """Insert new orders (tuples in ORDER_COLUMNS order); return external id -> id of those inserted.

    Large batches: binary COPY inside a savepoint, as fast as PostgreSQL takes rows. If any
    (partner, external_id) exists already (a re-push, or a concurrent request), the savepoint is
    rolled back and the rows go through INSERT ... ON CONFLICT DO NOTHING, as small batches do."""
    if len(records) >= COPY_FROM_ROWS:
        try:
            async with conn.transaction():
                await conn.copy_records_to_table("orders", columns=ORDER_COLUMNS, records=records)
            return {r[2]: r[0] for r in records}
        except asyncpg.UniqueViolationError:
            pass
    columns = list(zip(*records, strict=True))
    rows = await conn.fetch(
        """
        INSERT INTO orders (id, partner, external_id, customer_id, ordered_at, currency, amount, payment_method,
                            channel, lines)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::timestamptz[], $6::text[],
                             $7::numeric[], $8::text[], $9::text[], $10::jsonb[])
        ON CONFLICT (partner, external_id) DO NOTHING
        RETURNING external_id, id
        """,
        *columns,
    )
    return {r[0]: r[1] for r in rows}


async def order_ids(conn: asyncpg.Connection, partner: str, external_ids: Sequence[str]) -> dict[str, uuid.UUID]:
    rows = await conn.fetch(
        "SELECT external_id, id FROM orders WHERE partner = $1 AND external_id = ANY($2::text[])",
        partner,
        external_ids,
    )
    return {r[0]: r[1] for r in rows}


READ_SQL = """
    SELECT id, partner, external_id, customer_id, ordered_at, currency, amount, payment_method, channel,
           lines::text AS lines, status, refunded_amount, cancelled_at, cancel_reason, created_at, updated_at
    FROM orders WHERE id = $1
"""


async def read(conn: asyncpg.Connection, order_id: uuid.UUID) -> dict[str, Any] | None:
    """One order as plain values, in one round trip (the write path answers with it)."""
    row = await conn.fetchrow(READ_SQL, order_id)
    if row is None:
        return None
    return {**row, "lines": msgspec.json.decode(row["lines"])}


async def get(session: AsyncSession, order_id: uuid.UUID, *, for_update: bool = False) -> Order | None:
    stmt = select(Order).where(Order.id == order_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_by_external(session: AsyncSession, partner: str, external_id: str) -> Order | None:
    stmt = select(Order).where(Order.partner == partner, Order.external_id == external_id)
    return (await session.execute(stmt)).scalar_one_or_none()


def filtered(filters: OrderFilters) -> Select[Order]:
    """The orders the filters select, unordered."""
    stmt = select(Order)
    if filters.customer_id:
        stmt = stmt.where(Order.customer_id == filters.customer_id)
    if filters.partner:
        stmt = stmt.where(Order.partner == filters.partner)
    if filters.status:
        stmt = stmt.where(Order.status == filters.status)
    if filters.ordered_from:
        stmt = stmt.where(Order.ordered_at >= filters.ordered_from)
    if filters.ordered_to:
        stmt = stmt.where(Order.ordered_at < filters.ordered_to)
    return stmt


EXPORT_SQL = """
    SELECT seq, json_build_object(
        'seq', seq, 'id', id, 'partner', partner, 'external_id', external_id, 'customer_id', customer_id,
        'ordered_at', to_char(ordered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'currency', currency, 'amount', amount::text, 'payment_method', payment_method, 'channel', channel,
        'lines', lines, 'status', status, 'refunded_amount', refunded_amount::text,
        'cancelled_at', cancelled_at, 'created_at', created_at, 'updated_at', updated_at)::text
    FROM orders WHERE seq > $1 {where} ORDER BY seq LIMIT $2
"""


async def export_page(
    conn: asyncpg.Connection, after_seq: int, limit: int, *, partner: str | None, since: datetime | None
) -> list[asyncpg.Record]:
    """A page of the NDJSON export: PostgreSQL renders each row's JSON, Python only joins lines."""
    where, args = "", list[Any]([after_seq, limit])
    if partner is not None:
        args.append(partner)
        where += f" AND partner = ${len(args)}"
    if since is not None:
        args.append(since)
        where += f" AND updated_at >= ${len(args)}"
    return await conn.fetch(EXPORT_SQL.format(where=where), *args)
