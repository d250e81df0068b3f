"""Inbox: the consumer side of the outbox. Each received event id is recorded in the same
transaction as its effect, so a redelivered event is acknowledged and not applied again.

One event that cannot be applied must not hold back the others: each event type's group is applied in
a SAVEPOINT, and when a group fails its events are retried in halves, down to single events, so only
the poison ones are set aside as dead letters (`crm_shared.dead_letters`) with their reason, while the
rest of the delivery applies and the relay is answered 2xx. A failure that says nothing about the
event (the database is unavailable, a lock timeout, a deadlock, a handler raising `RetryLater`) fails
the whole delivery instead, and the relay retries it.

Isolating costs about three times a group's work per poison event; after `ISOLATION_SECONDS` of it in
one delivery (many poison events, or a handler that fails on everything), a group that fails is set
aside whole, so the delivery still answers well within the relay's timeout. Its events are replayed
from the admin API, where they are isolated again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from . import dead_letters
from .db import SessionDep, driver_connection
from .errors import (
    RETRYABLE_SQLSTATES,
    BadRequest,
    FieldError,
    ServiceUnavailable,
    Unauthorized,
    database_unavailable,
    sqlstate_of,
)
from .signing import verify

EventHandler = Callable[[AsyncSession, list[dict[str, Any]]], Awaitable[None]]


def combine_handlers(*tables: Mapping[str, EventHandler]) -> dict[str, EventHandler]:
    """One handler table from several domains' tables: where two domains handle the same event type,
    its handlers run one after the other, in the order given, in the delivery's transaction (so an
    event is applied by every domain once, or by none)."""
    merged: dict[str, list[EventHandler]] = {}
    for table in tables:
        for event_type, handler in table.items():
            merged.setdefault(event_type, []).append(handler)
    return {event_type: _chain(handlers) for event_type, handlers in merged.items()}


def _chain(handlers: list[EventHandler]) -> EventHandler:
    if len(handlers) == 1:
        return handlers[0]

    async def chained(session: AsyncSession, events: list[dict[str, Any]]) -> None:
        for handler in handlers:
            await handler(session, events)

    return chained


# Statement timeout, out of memory or disk: the server's state, not the event's.
_TRANSIENT_SQLSTATES = RETRYABLE_SQLSTATES | {"57014", "53100", "53200"}
# Time one delivery may spend retrying failed groups in parts (the relay waits 10 s by default).
ISOLATION_SECONDS = 5.0


class RetryLater(ServiceUnavailable):
    """Raised by a handler that cannot apply its events now but could later (something it needs is
    down): the whole delivery is refused with 503 and the relay retries it; nothing is dead-lettered."""

    def __init__(self, detail: str = "cannot apply these events now; retry later") -> None:
        super().__init__(detail, headers={"Retry-After": "5"})


def transient(exc: BaseException) -> bool:
    """True when a failure is no fault of the event: retry the delivery rather than set the event aside."""
    if isinstance(exc, RetryLater | TimeoutError):
        return True
    return database_unavailable(exc) or sqlstate_of(exc) in _TRANSIENT_SQLSTATES


# Text PostgreSQL stores (no NUL, no control characters) and that fits an index.
_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")]


class _Envelope(msgspec.Struct):
    id: uuid.UUID
    type: _Name
    source: _Name
    time: str
    data: dict[str, Any]
    specversion: str = "1.0"
    subject: str | None = None
    datacontenttype: str = "application/json"


_batch_decoder = msgspec.json.Decoder(list[_Envelope] | _Envelope)
_raw_list_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_envelope_decoder = msgspec.json.Decoder(_Envelope)
_object_decoder = msgspec.json.Decoder(dict[str, Any])


def _as_event(envelope: _Envelope) -> dict[str, Any]:
    event = msgspec.structs.asdict(envelope)
    event["id"] = str(envelope.id)  # canonical text: the form inbox_events gives back
    return event


def decode_events(body: bytes) -> tuple[list[dict[str, Any]], list[dead_letters.Failure]]:
    """The events of a delivery (one envelope or a list), and the envelopes too malformed to apply.
    Raises BadRequest when the body is not JSON, or holds something other than objects."""
    try:
        decoded = _batch_decoder.decode(body)
        return [_as_event(e) for e in (decoded if isinstance(decoded, list) else [decoded])], []
    except msgspec.DecodeError as exc:
        if not isinstance(exc, msgspec.ValidationError):
            raise _not_a_batch(exc) from exc
    # Some envelope is malformed: decode them one by one, so that only the bad ones are set aside.
    try:
        raws = _raw_list_decoder.decode(body) if body.lstrip()[:1] == b"[" else [msgspec.Raw(body)]
        objects = [_object_decoder.decode(raw) for raw in raws]
    except msgspec.DecodeError as exc:
        raise _not_a_batch(exc) from exc
    events, rejected = [], []
    for raw, obj in zip(raws, objects, strict=True):
        try:
            events.append(_as_event(_envelope_decoder.decode(raw)))
        except msgspec.ValidationError as exc:
            rejected.append(dead_letters.rejected_envelope(obj, bytes(raw), f"invalid envelope: {exc}"))
    return events, rejected


def _not_a_batch(exc: Exception) -> BadRequest:
    return BadRequest("not a CloudEvents batch", errors=[FieldError(detail=str(exc), pointer="#/")])


async def claim_new(session: AsyncSession, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Record event ids; return only the events not seen before (set-based, one statement)."""
    if not events:
        return []
    conn = await driver_connection(session)
    rows = await conn.fetch(
        """
        INSERT INTO inbox_events (event_id, event_type, source)
        SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::varchar[])
        ON CONFLICT (event_id) DO NOTHING
        RETURNING event_id::text
        """,
        [e["id"] for e in events],
        [e["type"] for e in events],
        [e["source"] for e in events],
    )
    fresh = {row[0] for row in rows}
    new = []
    for event in events:
        if event["id"] in fresh:
            fresh.discard(event["id"])  # an id sent twice in one delivery is applied once
            new.append(event)
    return new


@dataclass
class Outcome:
    """What became of a delivery's events: applied (new and applied now), already seen, or failed."""

    applied: list[dict[str, Any]] = field(default_factory=list)
    seen: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dead_letters.Failure] = field(default_factory=list)


async def apply_events(
    session: AsyncSession,
    events: list[dict[str, Any]],
    handlers: Mapping[str, EventHandler],
    *,
    isolation_seconds: float = ISOLATION_SECONDS,
) -> Outcome:
    """Apply the not-yet-seen events, grouped by type in arrival order, each group in a savepoint; an
    event whose handler fails is returned in `failed`, and its id is not kept as applied. Raises when a
    failure is transient (see `transient`): the caller's transaction must then roll back as a whole."""
    deadline = time.monotonic() + isolation_seconds
    fresh = await claim_new(session, events)
    fresh_ids = {e["id"] for e in fresh}
    outcome = Outcome(seen=[e for e in events if e["id"] not in fresh_ids])
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in fresh:
        by_type.setdefault(event["type"], []).append(event)
    failed_ids: set[str] = set()
    for type_, group in by_type.items():
        handler = handlers.get(type_)
        if handler is None:  # a type this service does not act on: acknowledged
            continue
        for event, exc, together in await _apply_isolated(session, handler, group, deadline):
            outcome.failed.append(dead_letters.failed_event(event, exc, together=together))
            failed_ids.add(event["id"])
    if failed_ids:  # not applied: a replay or a redelivery must be able to apply them
        conn = await driver_connection(session)
        await conn.execute("DELETE FROM inbox_events WHERE event_id = ANY($1::uuid[])", list(failed_ids))
    outcome.applied = [e for e in fresh if e["id"] not in failed_ids]
    return outcome


async def _apply_isolated(
    session: AsyncSession, handler: EventHandler, group: Sequence[dict[str, Any]], deadline: float
) -> list[tuple[dict[str, Any], Exception, int]]:
    """Apply `group` in a savepoint; when it fails, each half in its own, down to single events, in
    arrival order: k poison events among n cost about 2k·log2(n) handler calls instead of n. Returns the
    events set aside, each with its error and how many were set aside with it (1: it fails alone; more:
    its group failed after the deadline and was not split)."""
    try:
        async with session.begin_nested():
            await handler(session, list(group))
        return []
    except Exception as exc:
        if transient(exc):
            raise
        if len(group) == 1 or time.monotonic() > deadline:
            return [(event, exc, len(group)) for event in group]
    half = len(group) // 2
    first = await _apply_isolated(session, handler, group[:half], deadline)
    return first + await _apply_isolated(session, handler, group[half:], deadline)


@dataclass(frozen=True)
class Replayed:
    """What a replay made of one dead letter."""

    id: int
    event_id: uuid.UUID | None
    outcome: Literal["applied", "already_applied", "failed"]
    reason: str | None = None


async def replay(
    session: AsyncSession, rows: Sequence[dead_letters.Row], handlers: Mapping[str, EventHandler]
) -> list[Replayed]:
    """Apply dead letters again, through the same path as a delivery (the rows are locked by the caller).
    Applied, or applied meanwhile by a redelivery: the dead letter goes, and the event id is recorded as
    applied. Failing again: the dead letter stays, with the new reason."""
    events: list[dict[str, Any]] = []
    row_of: dict[str, dead_letters.Row] = {}
    failures: dict[int, str] = {}
    for row in rows:
        try:
            event = _as_event(_envelope_decoder.decode(row.payload or b""))
        except msgspec.DecodeError as exc:
            failures[row.id] = dead_letters.clean_reason(f"invalid envelope: {exc}")
            continue
        events.append(event)
        row_of[event["id"]] = row
    outcome = await apply_events(session, events, handlers)
    for failure in outcome.failed:
        failures[row_of[str(failure.event_id)].id] = failure.reason
    applied = {row_of[e["id"]].id for e in outcome.applied}
    conn = await driver_connection(session)
    await dead_letters.delete(conn, [row.id for row in rows if row.id not in failures])
    await dead_letters.failed_again(conn, failures)
    return [
        Replayed(row.id, row.event_id, "failed", failures[row.id])
        if row.id in failures
        else Replayed(row.id, row.event_id, "applied" if row.id in applied else "already_applied")
        for row in rows
    ]


class Delivery(msgspec.Struct, omit_defaults=True):
    """The answer to a delivery: events received, applied now, and set aside as dead letters."""

    received: int
    applied: int
    dead_lettered: int = 0


def events_router(handlers: Mapping[str, EventHandler]) -> APIRouter:
    """`POST /internal/events`: receives CloudEvents (one, or a batch) from other services' relays."""
    router = APIRouter(tags=["internal"], include_in_schema=False)

    @router.post("/internal/events")
    async def receive(request: Request, session: SessionDep) -> Response:
        body = await request.body()
        secret = request.app.state.settings.event_secret.get_secret_value()
        if not verify(secret, {k.lower(): v for k, v in request.headers.items()}, body):
            raise Unauthorized("missing or invalid webhook signature")
        events, rejected = decode_events(body)
        outcome = await apply_events(session, events, handlers)
        failed = [*rejected, *outcome.failed]
        conn = await driver_connection(session)
        await dead_letters.resolve(conn, [e["id"] for e in outcome.applied])
        await dead_letters.record(conn, failed)
        result = Delivery(received=len(events) + len(rejected), applied=len(outcome.applied), dead_lettered=len(failed))
        return Response(msgspec.json.encode(result), media_type="application/json")

    return router
