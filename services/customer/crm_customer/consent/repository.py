"""Every query of the consent domain (raw asyncpg on the request's connection: short, hot statements)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg


async def lock_customer(conn: asyncpg.Connection, customer_id: uuid.UUID) -> asyncpg.Record | None:
    """Lock the live customer row FOR NO KEY UPDATE: consent and preference changes of one customer
    queue behind each other (so `previous_status` is exact), a merge waits for them, and inserts of
    other rows referring to the customer (FOR KEY SHARE) are not blocked."""
    return await conn.fetchrow(
        """
        SELECT id, merged_into, preferred_channel, max_contacts_per_month, version
        FROM customers WHERE id = $1 FOR NO KEY UPDATE
        """,
        customer_id,
    )


async def current(conn: asyncpg.Connection, customer_id: uuid.UUID, channel: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT channel, status, source, updated_at FROM consents WHERE customer_id = $1 AND channel = $2",
        customer_id,
        channel,
    )


async def record(conn: asyncpg.Connection, customer_id: uuid.UUID, channel: str, status: str, source: str) -> Any:
    """Append to the history and make it the current state, in one statement."""
    return await conn.fetchrow(
        """
        WITH rec AS (
            INSERT INTO consent_records (customer_id, channel, status, source)
            VALUES ($1, $2, $3, $4) RETURNING recorded_at
        )
        INSERT INTO consents (customer_id, channel, status, source, updated_at)
        SELECT $1, $2, $3, $4, recorded_at FROM rec
        ON CONFLICT (customer_id, channel) DO UPDATE
            SET status = EXCLUDED.status, source = EXCLUDED.source, updated_at = EXCLUDED.updated_at
        RETURNING channel, status, source, updated_at
        """,
        customer_id,
        channel,
        status,
        source,
    )


async def overview(conn: asyncpg.Connection, customer_id: uuid.UUID) -> tuple[asyncpg.Record, list[asyncpg.Record]]:
    customer = await conn.fetchrow(
        "SELECT id, preferred_channel, max_contacts_per_month FROM customers WHERE id = $1", customer_id
    )
    assert customer is not None  # the caller resolved this live customer in the same transaction
    rows = await conn.fetch(
        "SELECT channel, status, source, updated_at FROM consents WHERE customer_id = $1", customer_id
    )
    return customer, rows


async def history_page(
    conn: asyncpg.Connection,
    customer_id: uuid.UUID,
    channel: str | None,
    after: Sequence[Any] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """The customer's consent records, newest first: `limit` of them after the (recorded_at, id) `after`."""
    return await conn.fetch(
        """
        SELECT id, channel, status, source, recorded_at FROM consent_records
        WHERE customer_id = $1 AND ($2::text IS NULL OR channel = $2)
          AND ($3::timestamptz IS NULL OR (recorded_at, id) < ($3, $4))
        ORDER BY recorded_at DESC, id DESC LIMIT $5
        """,
        customer_id,
        channel,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def update_preferences(conn: asyncpg.Connection, customer_id: uuid.UUID, values: dict[str, Any]) -> int:
    names = list(values)
    assignments = "".join(f", {n} = ${i + 2}" for i, n in enumerate(names))
    return await conn.fetchval(
        f"UPDATE customers SET version = version + 1, updated_at = now(){assignments} WHERE id = $1 RETURNING version",
        customer_id,
        *(values[n] for n in names),
    )


async def consented_page(
    conn: asyncpg.Connection, channel: str, status: str, after: uuid.UUID | None, limit: int
) -> list[asyncpg.Record]:
    """`limit` live customers after `after` whose current consent on `channel` is `status`, by customer id
    (the primary key's order)."""
    return await conn.fetch(
        """
        SELECT s.customer_id, s.status, s.updated_at FROM consents s
        JOIN customers c ON c.id = s.customer_id AND c.merged_into IS NULL
        WHERE s.channel = $1 AND s.status = $2 AND ($3::uuid IS NULL OR s.customer_id > $3)
        ORDER BY s.customer_id LIMIT $4
        """,
        channel,
        status,
        after,
        limit,
    )
