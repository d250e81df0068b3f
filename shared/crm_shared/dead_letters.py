"""The inbox's dead letters: events a consumer could not apply, set aside with their reason so that
the rest of their delivery applies (see `crm_shared.inbox`). Admins list, inspect, replay and discard
them (`crm_shared.dead_letters_api`); Prometheus counts them (`crm_shared.event_metrics`).

Stored texts are made storable first: PostgreSQL refuses NUL in text, and a poison event may carry
exactly that. Reasons are scrubbed of emails and phone numbers (PostgreSQL echoes bad values in its
messages) and shortened; the payload keeps the envelope as received, bytes for bytes.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from .event_metrics import DEAD_LETTERED
from .pii import scrub

log = logging.getLogger("crm.inbox")
# Inspect, replay and discard dead-lettered events; only admins hold it (crm_gateway.scopes).
EVENTS_ADMIN_SCOPE = "events:admin"
MAX_REASON = 2000
MAX_NAME = 255
LOGGED_PER_DELIVERY = 10  # one line per dead letter, then a count


@dataclass(frozen=True)
class Failure:
    """An event that could not be applied: what identifies it, the envelope as JSON, and why."""

    event_id: str | None
    event_type: str
    source: str
    payload: bytes
    reason: str


def _storable(text: str, limit: int) -> str:
    return text.replace("\x00", "\\u0000")[:limit]


def _name(value: Any) -> str:
    return _storable(value, MAX_NAME) if isinstance(value, str) else ""


def clean_reason(text: str) -> str:
    return _storable(scrub(text), MAX_REASON)


def describe(exc: BaseException) -> str:
    """`ErrorType: message` of the driver's error when there is one (SQLAlchemy's wrapper repeats the
    statement), with its SQLSTATE; without personal data, bounded."""
    cause = getattr(exc, "orig", None) or exc
    cause = cause.__cause__ if isinstance(cause.__cause__, asyncpg.PostgresError) else cause
    message = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    sqlstate = getattr(cause, "sqlstate", None)
    text = f"{type(cause).__name__}: {message}" + (f" (SQLSTATE {sqlstate})" if sqlstate else "")
    return clean_reason(text)


def failed_event(event: dict[str, Any], exc: BaseException, *, together: int = 1) -> Failure:
    """A decoded event whose handler failed: alone, or in a group of `together` that was not split."""
    reason = describe(exc)
    if together > 1:
        reason = clean_reason(f"set aside with its group of {together} (not split in time; replay it): {reason}")
    return Failure(
        event_id=event["id"],
        event_type=_name(event["type"]),
        source=_name(event["source"]),
        payload=msgspec.json.encode(event),
        reason=reason,
    )


def rejected_envelope(obj: dict[str, Any], raw: bytes, reason: str) -> Failure:
    """An envelope that does not decode: whatever identifies it, when it does."""
    try:
        event_id: str | None = str(uuid.UUID(str(obj.get("id"))))
    except ValueError:
        event_id = None
    return Failure(event_id, _name(obj.get("type")), _name(obj.get("source")), raw, clean_reason(reason))


_RECORD = """
    INSERT INTO inbox_dead_letters AS d (event_id, event_type, source, payload, reason)
    SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::varchar[], $4::bytea[], $5::text[])
    ON CONFLICT (event_id) DO UPDATE SET
        event_type = EXCLUDED.event_type, source = EXCLUDED.source, payload = EXCLUDED.payload,
        reason = EXCLUDED.reason, attempts = d.attempts + 1, last_failed_at = now()
"""


async def record(conn: asyncpg.Connection, failures: list[Failure]) -> None:
    """Set the failed events aside, in the delivery's transaction. An event that is already a dead
    letter (a redelivery, failing again) updates its row: reason, payload, attempts."""
    if not failures:
        return
    # One row per event id (ON CONFLICT cannot update a row twice in one statement); the last one wins.
    unique = list({f.event_id or f"row-{i}": f for i, f in enumerate(failures)}.values())
    await conn.execute(
        _RECORD,
        [f.event_id for f in unique],
        [f.event_type for f in unique],
        [f.source for f in unique],
        [f.payload for f in unique],
        [f.reason for f in unique],
    )
    for i, f in enumerate(unique):
        DEAD_LETTERED.labels(f.event_type).inc()
        if i < LOGGED_PER_DELIVERY:
            log.warning("event %s (%s from %s) dead-lettered: %s", f.event_id, f.event_type, f.source, f.reason)
    if len(unique) > LOGGED_PER_DELIVERY:
        log.warning("%d more events of the same delivery dead-lettered", len(unique) - LOGGED_PER_DELIVERY)


async def resolve(conn: asyncpg.Connection, applied_ids: list[str]) -> None:
    """Events applied now are no dead letters any more (a redelivery or replay succeeded)."""
    if applied_ids:
        await conn.execute("DELETE FROM inbox_dead_letters WHERE event_id = ANY($1::uuid[])", applied_ids)


class Row(msgspec.Struct):
    id: int
    event_id: uuid.UUID | None
    event_type: str
    source: str
    reason: str
    attempts: int
    dead_lettered_at: datetime
    last_failed_at: datetime
    payload: bytes | None = None


_COLUMNS = "id, event_id, event_type, source, reason, attempts, dead_lettered_at, last_failed_at"


def _where(
    event_type: str | None, source: str | None, from_: datetime | None, to: datetime | None, first: int
) -> tuple[str, list[Any]]:
    """A WHERE clause over the list filters, with its arguments numbered from $`first`."""
    clauses, args = [], []
    for sql, value in (
        ("event_type = ${}", event_type),
        ("source = ${}", source),
        ("dead_lettered_at >= ${}", from_),
        ("dead_lettered_at < ${}", to),
    ):
        if value is not None:
            args.append(value)
            clauses.append(sql.format(first + len(args) - 1))
    return " AND ".join(clauses) or "true", args


async def page(
    conn: asyncpg.Connection,
    *,
    event_type: str | None,
    source: str | None,
    from_: datetime | None,
    to: datetime | None,
    before_id: int | None,
    limit: int,
) -> list[Row]:
    """Newest first (ids grow with time), `limit` rows from below `before_id`."""
    where, args = _where(event_type, source, from_, to, 3)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM inbox_dead_letters WHERE id < $1 AND {where} ORDER BY id DESC LIMIT $2",
        before_id if before_id is not None else 2**63 - 1,
        limit,
        *args,
    )
    return [Row(**dict(r)) for r in rows]


async def get(conn: asyncpg.Connection, dead_letter_id: int, *, lock: bool = False) -> Row | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS}, payload FROM inbox_dead_letters WHERE id = $1" + (" FOR UPDATE" if lock else ""),
        dead_letter_id,
    )
    return None if row is None else Row(**dict(row))


async def claim_matching(
    conn: asyncpg.Connection,
    *,
    event_type: str | None,
    source: str | None,
    from_: datetime | None,
    to: datetime | None,
    limit: int,
) -> list[Row]:
    """Up to `limit` matching dead letters, oldest first (the order they were set aside), locked for a
    replay; rows another replay holds are skipped."""
    where, args = _where(event_type, source, from_, to, 2)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS}, payload FROM inbox_dead_letters WHERE {where} ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
        *args,
    )
    return [Row(**dict(r)) for r in rows]


async def delete(conn: asyncpg.Connection, ids: list[int]) -> None:
    if ids:
        await conn.execute("DELETE FROM inbox_dead_letters WHERE id = ANY($1::bigint[])", ids)


async def failed_again(conn: asyncpg.Connection, failures: dict[int, str]) -> None:
    """A replay failed: the same rows keep the new reasons."""
    if failures:
        await conn.execute(
            "UPDATE inbox_dead_letters AS d SET reason = u.reason, attempts = d.attempts + 1, last_failed_at = now() "
            "FROM unnest($1::bigint[], $2::text[]) AS u(id, reason) WHERE d.id = u.id",
            list(failures),
            list(failures.values()),
        )


async def discard(conn: asyncpg.Connection, row: Row) -> None:
    """Drop a dead letter for good: its event id is recorded as seen, so a redelivery of the same event
    is acknowledged without being applied."""
    if row.event_id is not None:
        await conn.execute(
            "INSERT INTO inbox_events (event_id, event_type, source) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            row.event_id,
            row.event_type or "?",
            row.source or "?",
        )
    await delete(conn, [row.id])
