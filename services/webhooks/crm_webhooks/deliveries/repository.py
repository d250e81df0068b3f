"""Every query of the deliveries domain: the fan-out insert, the worker's claim and record, replays."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.db import driver_connection

from .models import Delivery

# Two statements for a whole fan-out: each message once, then its deliveries; a redelivered event finds
# its rows there already.
_INSERT_MESSAGES = """
    INSERT INTO webhook_messages (id, event_type, body)
    SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::bytea[])
    ON CONFLICT (id) DO NOTHING
"""
_INSERT = """
    INSERT INTO webhook_deliveries (id, subscription_id, event_id, event_type)
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::varchar[])
    ON CONFLICT (subscription_id, event_id) DO NOTHING
"""
# Due rows of active subscriptions, locked so that no other worker (another replica) takes them, and
# leased in the same statement: their next attempt moves past this one, so the row is due again only if
# this attempt is never recorded (the worker died), once the lease ends.
_CLAIM = """
    WITH due AS (
        SELECT d.id FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id
        WHERE d.status IN ('pending', 'failed') AND d.next_attempt_at <= $1 AND s.status = 'active'
        ORDER BY d.next_attempt_at
        LIMIT $2
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE webhook_deliveries d
    SET attempts = d.attempts + 1, next_attempt_at = $3, last_attempt_at = $1
    FROM due, webhook_subscriptions s, webhook_messages m
    WHERE d.id = due.id AND s.id = d.subscription_id AND m.id = d.event_id
    RETURNING d.id, d.attempts, m.body, s.url, s.secret_sealed, s.previous_secret_sealed, s.previous_secret_expires_at
"""
# Each attempt's outcome, if the row is still the one this attempt leased (not replayed, deleted or
# taken again after its lease ran out).
_RECORD = """
    UPDATE webhook_deliveries d SET
        status = u.status, next_attempt_at = u.next, last_status_code = u.code, last_error = u.error,
        last_response = u.response, succeeded_at = CASE WHEN u.status = 'succeeded' THEN u.at END
    FROM unnest($1::uuid[], $2::int[], $3::varchar[], $4::timestamptz[], $5::smallint[], $6::varchar[],
                $7::varchar[], $8::timestamptz[])
        AS u(id, attempts, status, next, code, error, response, at)
    WHERE d.id = u.id AND d.attempts = u.attempts AND d.status IN ('pending', 'failed')
"""
_FORGET = """
    DELETE FROM webhook_deliveries WHERE status = 'succeeded' AND succeeded_at < $1
"""
# Messages no delivery refers to any more (theirs succeeded long ago, or their subscriptions went). A
# message and its deliveries are written in one transaction, so a committed one without any is an orphan.
_FORGET_MESSAGES = """
    DELETE FROM webhook_messages m
    WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = m.id)
"""
# The deliveries not settled, by state, for the gauges: grouped per subscription through the partial index
# of unsettled rows (index only: succeeded ones, most of the table, are never read), then by state with the
# subscriptions' status. `oldest`: how long the oldest due delivery of an active subscription has waited.
WAITING = """
    WITH per AS (
        SELECT subscription_id, status = 'dead' AS dead, next_attempt_at <= now() AS due,
               count(*) AS n, min(next_attempt_at) AS first
        FROM webhook_deliveries WHERE status <> 'succeeded'
        GROUP BY 1, 2, 3
    )
    SELECT CASE WHEN per.dead THEN 'dead' WHEN s.status = 'paused' THEN 'paused'
                WHEN per.due THEN 'due' ELSE 'scheduled' END AS state,
           sum(per.n)::bigint AS n, extract(epoch FROM now() - min(per.first)) AS oldest
    FROM per JOIN webhook_subscriptions s ON s.id = per.subscription_id
    GROUP BY 1
"""
_REPLAY = """
    UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now()
    WHERE subscription_id = $1 AND status = 'dead' AND ($2::uuid IS NULL OR id = $2)
"""


async def insert(
    session: AsyncSession,
    messages: Sequence[tuple[str | uuid.UUID, str, bytes]],
    deliveries: Sequence[tuple[uuid.UUID, uuid.UUID, str | uuid.UUID, str]],
) -> None:
    """Messages as (event id, event type, body), and deliveries of them as (delivery id, subscription id,
    event id, event type)."""
    if not deliveries:
        return
    conn = await driver_connection(session)
    await conn.execute(_INSERT_MESSAGES, *(list(column) for column in zip(*messages, strict=True)))
    await conn.execute(_INSERT, *(list(column) for column in zip(*deliveries, strict=True)))


async def claim(session: AsyncSession, now: datetime, limit: int, lease_until: datetime) -> list[Any]:
    conn = await driver_connection(session)
    return list(await conn.fetch(_CLAIM, now, limit, lease_until))


async def record(session: AsyncSession, outcomes: Sequence[tuple[Any, ...]]) -> None:
    if not outcomes:
        return
    conn = await driver_connection(session)
    await conn.execute(_RECORD, *(list(column) for column in zip(*outcomes, strict=True)))


async def replay_dead(session: AsyncSession, subscription_id: uuid.UUID, delivery_id: uuid.UUID | None) -> int:
    conn = await driver_connection(session)
    status = await conn.execute(_REPLAY, subscription_id, delivery_id)
    return int(status.split()[-1])


async def get(
    session: AsyncSession, subscription_id: uuid.UUID, delivery_id: uuid.UUID, *, lock: bool = False
) -> Delivery | None:
    stmt = select(Delivery).where(Delivery.id == delivery_id, Delivery.subscription_id == subscription_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def listed(subscription_id: uuid.UUID, status: str | None) -> Select[Delivery]:
    stmt = select(Delivery).where(Delivery.subscription_id == subscription_id)
    return stmt.where(Delivery.status == status) if status is not None else stmt


async def refresh(session: AsyncSession, delivery: Delivery) -> None:
    await session.refresh(delivery)


async def forget_succeeded(session: AsyncSession, before: datetime) -> int:
    """Delete the deliveries that succeeded before `before`, then the messages nothing refers to."""
    conn = await driver_connection(session)
    status = await conn.execute(_FORGET, before)
    await conn.execute(_FORGET_MESSAGES)
    return int(status.split()[-1])
