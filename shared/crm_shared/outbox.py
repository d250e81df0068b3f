"""Transactional outbox: events are written in the same transaction as the change they describe,
then delivered over HTTP by a relay with exponential backoff. A crash before commit loses the change
and its events together; a crash after commit leaves the events in the table for the next relay run.
Consumers de-duplicate by event id (see `inbox`), so delivery is at-least-once and applied once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from .db import driver_connection
from .events import CLOUDEVENTS_BATCH
from .http import ServiceClient
from .settings import Subscription
from .signing import signature_headers

log = logging.getLogger("crm.outbox")
NOTIFY_CHANNEL = "crm_outbox"

_INSERT = f"""
    WITH ins AS (
        INSERT INTO outbox_messages (event_count, event_types, events, pending, delivered_at)
        VALUES ($1, $2, $3, $4, CASE WHEN cardinality($4::varchar[]) = 0 THEN now() END)
        RETURNING id
    )
    SELECT pg_notify('{NOTIFY_CHANNEL}', '') FROM ins WHERE cardinality($4::varchar[]) > 0
"""


def subscribers_for(types: set[str], subscriptions: Sequence[Subscription]) -> list[str]:
    return [s.name for s in subscriptions if any(_matches(t, s.types) for t in types)]


def _matches(event_type: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(event_type, p) for p in patterns)


async def publish(session: AsyncSession, events: Sequence[dict[str, Any]]) -> None:
    """Add events to the outbox inside the caller's transaction (no commit here)."""
    if not events:
        return
    subscriptions: Sequence[Subscription] = session.info.get("subscriptions", ())
    types = {e["type"] for e in events}
    pending = subscribers_for(types, subscriptions)
    conn = await driver_connection(session)
    await conn.execute(_INSERT, len(events), sorted(types), msgspec.json.encode(events), pending)
    if pending:
        session.info["outbox_written"] = True


def backoff_seconds(attempts: int, *, base: float = 1.0, cap: float = 900.0) -> float:
    """Exponential backoff with full jitter: spreads retries of many messages after an outage."""
    return random.uniform(0, min(cap, base * 2**attempts))


class OutboxRelay:
    """Delivers due outbox messages to their subscribers. Safe to run in every replica: messages are
    claimed with FOR UPDATE SKIP LOCKED, so two relays never deliver the same message at once."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        source: str,
        subscriptions: Sequence[Subscription],
        secret: str,
        batch_size: int = 50,
        poll_seconds: float = 2.0,
        max_attempts: int = 25,
        delivery_timeout: float = 10.0,
        backoff_base: float = 1.0,
    ) -> None:
        self._engine = engine
        self._source = source
        self._subs = {s.name: s for s in subscriptions}
        self._secret = secret
        self._batch_size = batch_size
        self._poll = poll_seconds
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._client = ServiceClient("", timeout=delivery_timeout, attempts=1)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        with contextlib.suppress(Exception):
            # LISTEN lets a commit in any replica wake this relay at once; polling stays as fallback.
            dsn = make_url(self._engine.url).set(drivername="postgresql").render_as_string(hide_password=False)
            self._listener = await asyncpg.connect(dsn)
            await self._listener.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._listener:
            with contextlib.suppress(Exception):
                await self._listener.close()
        await self._client.aclose()

    async def _run(self) -> None:
        while True:
            try:
                delivered = await self.deliver_due()
            except Exception:
                log.exception("outbox relay pass failed")
                delivered = 0
            if delivered:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)

    async def deliver_due(self) -> int:
        """One pass: claim due messages, deliver each to its pending subscribers, record the outcome.
        Returns how many messages were handled."""
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    text(
                        """
                        SELECT id, events, pending, attempts FROM outbox_messages
                        WHERE delivered_at IS NULL AND NOT dead AND next_attempt_at <= now()
                        ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED
                        """
                    ),
                    {"n": self._batch_size},
                )
            ).all()
            if not rows:
                return 0
            outcomes = await asyncio.gather(
                *(self._deliver(r.id, msgspec.json.decode(r.events), r.pending) for r in rows)
            )
            now = datetime.now(UTC)
            for row, (remaining, error) in zip(rows, outcomes, strict=True):
                attempts = row.attempts + (1 if remaining else 0)
                await conn.execute(
                    text(
                        """
                        UPDATE outbox_messages SET pending = :pending, attempts = :attempts,
                            last_error = :error, next_attempt_at = :next,
                            delivered_at = CASE WHEN cardinality(CAST(:pending AS varchar[])) = 0
                                                THEN now() END,
                            dead = :dead
                        WHERE id = :id
                        """
                    ),
                    {
                        "id": row.id,
                        "pending": remaining,
                        "attempts": attempts,
                        "error": error,
                        "next": now + timedelta(seconds=backoff_seconds(attempts, base=self._backoff_base)),
                        "dead": bool(remaining) and attempts >= self._max_attempts,
                    },
                )
            return len(rows)

    async def _deliver(
        self, message_id: int, events: list[dict[str, Any]], pending: list[str]
    ) -> tuple[list[str], str | None]:
        remaining, errors = [], []
        for name in pending:
            sub = self._subs.get(name)
            if sub is None:  # subscriber removed from configuration since the message was written
                continue
            batch = [e for e in events if _matches(e["type"], sub.types)]
            if not batch:
                continue
            body = msgspec.json.encode(batch)
            headers = {"content-type": CLOUDEVENTS_BATCH, "ce-source": self._source}
            headers.update(signature_headers(self._secret, f"{self._source}:{message_id}", body))
            try:
                response = await self._client.request("POST", sub.url, content=body, headers=headers)
                if response.status_code >= 300:
                    raise RuntimeError(f"{name} answered {response.status_code}: {response.text[:200]}")
            except Exception as exc:
                remaining.append(name)
                errors.append(f"{name}: {exc}")
        return remaining, "; ".join(errors) or None


async def replay_dead(session: AsyncSession) -> int:
    """Put dead-lettered messages back in the queue (after the subscriber is fixed)."""
    result = await session.execute(
        text("UPDATE outbox_messages SET dead = false, attempts = 0, next_attempt_at = now() WHERE dead RETURNING id")
    )
    return len(result.all())
