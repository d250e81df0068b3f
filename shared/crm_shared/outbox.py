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
from urllib.parse import urlsplit

import asyncpg
import msgspec
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from .db import driver_connection
from .errors import BadGateway
from .events import CLOUDEVENTS_BATCH
from .http import ServiceClient
from .settings import Subscription
from .signing import signature_headers
from .tracing import TRACEPARENT, Tracing, current_traceparent, delivery_span

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
    if traceparent := current_traceparent():  # tracing on: the delivery continues this request's trace
        events = [{TRACEPARENT: traceparent, **e} for e in events]
    types = {e["type"] for e in events}
    pending = subscribers_for(types, subscriptions)
    conn = await driver_connection(session)
    await conn.execute(_INSERT, len(events), sorted(types), msgspec.json.encode(events), pending)
    if pending:
        session.info["outbox_written"] = True


def backoff_seconds(attempts: int, *, base: float = 1.0, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter: spreads retries of many messages after an outage. The cap is
    short so a subscriber that comes back is caught up within it: waiting longer helps nobody, and a
    poison event is the consumer's to isolate, not a reason to slow the whole stream."""
    return random.uniform(0, min(cap, base * 2**attempts))


# The due messages owed to one subscriber travel together, in id order, in POSTs of about this many
# events (a message is never split). One POST per subscriber and pass instead of one per message: at
# ~60 messages/s one POST each left delivery 30 s behind.
MAX_EVENTS_PER_POST = 5_000
# Messages claimed per pass: about one POST's worth of events, so many small messages (single orders)
# travel a thousand or two at a time after an outage instead of `batch_size` per pass, while large ones
# (bulk pushes) still come `batch_size` at most.
MAX_CLAIM = 2_000

_CLAIM = """
    SELECT id, events, pending, attempts, created_at FROM outbox_messages
    WHERE delivered_at IS NULL AND NOT dead AND next_attempt_at <= now()
    ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
"""
# Every claimed message's outcome in one statement. `pending` travels as a space-joined string because
# asyncpg cannot bind an array of arrays of differing lengths.
_RECORD = """
    UPDATE outbox_messages AS m SET
        pending = u.pending, attempts = u.attempts, last_error = u.error, next_attempt_at = u.next,
        delivered_at = CASE WHEN cardinality(u.pending) = 0 THEN now() END, dead = u.dead
    FROM (
        SELECT t.id, t.attempts, t.error, t.next, t.dead,
               COALESCE(string_to_array(NULLIF(t.pending, ''), ' '), '{}')::varchar[] AS pending
        FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::timestamptz[], $6::bool[])
            AS t(id, pending, attempts, error, next, dead)
    ) AS u
    WHERE m.id = u.id
"""
# A subscriber that was unreachable answers again: what it is owed is due now, not at the end of each
# message's backoff (up to the cap), so it catches up at once.
_PULL_FORWARD = """
    UPDATE outbox_messages SET next_attempt_at = now()
    WHERE delivered_at IS NULL AND NOT dead AND next_attempt_at > now() AND pending && $1::varchar[]
"""
# Answers that say the subscriber is not there (rather than that it refused a message).
_UNREACHABLE_STATUSES = frozenset({502, 504})


class _Claimed(msgspec.Struct):
    id: int
    events: list[dict[str, Any]]
    pending: list[str]
    attempts: int
    created_at: datetime


class OutboxRelay:
    """Delivers due outbox messages to their subscribers. Safe to run in every replica: messages are
    claimed with FOR UPDATE SKIP LOCKED, so two relays never deliver the same message at once.

    A message stays owed to a subscriber until it accepts it; it is dead-lettered only after
    `give_up_after` (or `max_attempts`, when set), so a subscriber that is down for hours catches up
    when it returns instead of losing events. While a subscriber cannot be reached, its `/readyz` is
    probed every `poll_seconds`; once it answers (or takes a delivery again), its whole backlog is due
    at once instead of each message waiting out its backoff."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        source: str,
        subscriptions: Sequence[Subscription],
        secret: str,
        batch_size: int = 50,
        poll_seconds: float = 2.0,
        max_attempts: int = 0,
        delivery_timeout: float = 10.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        give_up_after: timedelta = timedelta(days=3),
        tracing: Tracing | None = None,
    ) -> None:
        self._engine = engine
        self._source = source
        self._subs = {s.name: s for s in subscriptions}
        self._secret = secret
        self._batch_size = batch_size
        self._claim = batch_size  # messages per pass, adapted to their size
        self._poll = poll_seconds
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._give_up_after = give_up_after
        self._client = ServiceClient("", timeout=delivery_timeout, attempts=1)
        self._delivery_timeout = delivery_timeout
        self._tracing = tracing
        self._wake = asyncio.Event()
        self._stopping = False  # set on shutdown: no new claim, the pass under way finishes
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None
        self._down: set[str] = set()  # subscribers the last delivery could not reach
        self._back: set[str] = set()  # ... reached again: their backlog is pulled forward by the next pass
        self._probes: dict[str, asyncio.Task[None]] = {}

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        await self._listen()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def _listen(self) -> None:
        """LISTEN lets a commit in any replica wake this relay at once; polling stays as the fallback.
        Re-established on every pass while it is down (a database restart closes it)."""
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            dsn = make_url(self._engine.url).set(drivername="postgresql").render_as_string(hide_password=False)
            self._listener = await asyncpg.connect(dsn, timeout=5)
            await self._listener.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
            self._wake.set()  # events may have been committed while nobody listened
        except Exception as exc:  # the database may be down: polling goes on, the next pass retries
            log.warning("outbox relay cannot LISTEN (%s); polling every %.1f s", type(exc).__name__, self._poll)
            self._listener = None

    def stop_claiming(self) -> None:
        """Claim no more messages (SIGTERM: other replicas, or this one's successor, deliver the rest);
        a pass under way still delivers and records what it claimed."""
        self._stopping = True
        self._wake.set()

    async def stop(self) -> None:
        """Stop claiming, let the pass under way record its outcomes (bounded by one delivery timeout, after
        which it is cancelled and its claims roll back for another relay), then close."""
        self.stop_claiming()
        if self._task is not None:
            _, running = await asyncio.wait({self._task}, timeout=self._delivery_timeout + 5)
            for task in running:
                task.cancel()
        for task in [*self._probes.values(), *([self._task] if self._task else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._listener:
            with contextlib.suppress(Exception):
                await self._listener.close()
        await self._client.aclose()

    async def _run(self) -> None:
        while not self._stopping:
            await self._listen()
            try:
                delivered = await self.deliver_due()
            except Exception as exc:
                log.warning("outbox relay pass failed: %s", exc)
                delivered = 0
            if delivered:
                continue
            self._wake.clear()
            if self._stopping:  # checked after the clear: a stop_claiming() just before is not missed
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)

    async def deliver_due(self) -> int:
        """One pass: claim due messages, deliver them to each pending subscriber (one POST per subscriber
        and chunk, all subscribers at once), record every outcome. Returns how many messages were handled."""
        async with AsyncSession(self._engine) as session, session.begin():
            # The claim's row locks hold until the outcomes are recorded, in the same transaction.
            driver = await driver_connection(session)
            if self._back:
                back, self._back = sorted(self._back), set()
                await driver.execute(_PULL_FORWARD, back)
            rows = [
                _Claimed(r["id"], msgspec.json.decode(r["events"]), list(r["pending"]), r["attempts"], r["created_at"])
                for r in await driver.fetch(_CLAIM, self._claim)
            ]
            if not rows:
                return 0
            per_message = max(1.0, sum(len(row.events) for row in rows) / len(rows))
            self._claim = max(self._batch_size, min(MAX_CLAIM, int(MAX_EVENTS_PER_POST / per_message)))
            names = sorted({name for row in rows for name in row.pending})
            failures: dict[str, dict[int, str]] = dict(
                zip(names, await asyncio.gather(*(self._deliver_to(name, rows) for name in names)), strict=True)
            )
            await driver.execute(_RECORD, *self._outcomes(rows, failures))
            return len(rows)

    def _outcomes(self, rows: list[_Claimed], failures: dict[str, dict[int, str]]) -> tuple[list[Any], ...]:
        now = datetime.now(UTC)
        ids, pending, attempts, errors, next_at, dead = [], [], [], [], [], []
        for row in rows:
            remaining = [name for name in row.pending if row.id in failures.get(name, {})]
            tries = row.attempts + (1 if remaining else 0)
            ids.append(row.id)
            pending.append(" ".join(remaining))
            attempts.append(tries)
            errors.append("; ".join(f"{name}: {failures[name][row.id]}" for name in remaining) or None)
            next_at.append(
                now + timedelta(seconds=backoff_seconds(tries, base=self._backoff_base, cap=self._backoff_cap))
            )
            expired = now - row.created_at > self._give_up_after
            dead.append(bool(remaining) and (expired or 0 < self._max_attempts <= tries))
        return ids, pending, attempts, errors, next_at, dead

    async def _deliver_to(self, name: str, rows: list[_Claimed]) -> dict[int, str]:
        """Deliver the subscriber's share of the claimed messages in order; returns {message id: error}
        for the messages it still owes (after a failed chunk, the later ones wait too, keeping order)."""
        sub = self._subs.get(name)
        owed = [row for row in rows if name in row.pending]
        if sub is None:  # removed from configuration since the message was written: nothing is owed
            return {}
        chunk: list[_Claimed] = []
        events: list[dict[str, Any]] = []
        for i, row in enumerate(owed):
            chunk.append(row)
            events += [e for e in row.events if _matches(e["type"], sub.types)]
            if len(events) < MAX_EVENTS_PER_POST and i < len(owed) - 1:
                continue
            error = None
            if events:
                with delivery_span(self._tracing, name, events):
                    error = await self._post(sub, chunk, events)
            if error is not None:
                return {row.id: error for row in owed[owed.index(chunk[0]) :]}
            chunk, events = [], []
        return {}

    async def _post(self, sub: Subscription, chunk: list[_Claimed], events: list[dict[str, Any]]) -> str | None:
        body = msgspec.json.encode(events)
        headers = {"content-type": CLOUDEVENTS_BATCH, "ce-source": self._source}
        message_id = f"{self._source}:{chunk[0].id}-{chunk[-1].id}"
        headers.update(signature_headers(self._secret, message_id, body))
        if self._tracing is not None:
            self._tracing.inject(headers)
        try:
            response = await self._client.request("POST", sub.url, content=body, headers=headers)
        except Exception as exc:
            if isinstance(exc, BadGateway):  # refused or reset; a timeout means slow, and backs off
                self._unreachable(sub)
            return f"{type(exc).__name__}: {exc}"
        if response.status_code in _UNREACHABLE_STATUSES:
            self._unreachable(sub)
        else:
            self._reachable(sub.name)
        if response.status_code >= 300:
            return f"answered {response.status_code}: {response.text[:200]}"
        return None

    def _unreachable(self, sub: Subscription) -> None:
        if sub.name in self._down:
            return
        self._down.add(sub.name)
        self._back.discard(sub.name)
        log.warning("subscriber %s is unreachable; probing its /readyz every %.1f s", sub.name, self._poll)
        self._probes[sub.name] = asyncio.create_task(self._probe(sub), name=f"outbox-probe-{sub.name}")

    def _reachable(self, name: str) -> None:
        if name not in self._down:
            return
        self._down.discard(name)
        self._back.add(name)
        probe = self._probes.pop(name, None)
        if probe is not None and probe is not asyncio.current_task():
            probe.cancel()
        log.info("subscriber %s is reachable again: its backlog is due now", name)
        self.wake()

    async def _probe(self, sub: Subscription) -> None:
        """While `sub` is unreachable: its /readyz, every poll interval, until it answers 200."""
        parts = urlsplit(sub.url)
        url = parts._replace(path="/readyz", query="", fragment="").geturl()
        while sub.name in self._down:
            await asyncio.sleep(self._poll)
            with contextlib.suppress(Exception):
                if (await self._client.request("GET", url, idempotent=False)).status_code == 200:
                    self._reachable(sub.name)


async def replay_dead(session: AsyncSession) -> int:
    """Put dead-lettered messages back in the queue (after the subscriber is fixed)."""
    result = await session.execute(
        text("UPDATE outbox_messages SET dead = false, attempts = 0, next_attempt_at = now() WHERE dead RETURNING id")
    )
    return len(result.all())
