"""Inbox: the consumer side of the outbox. Each received event id is recorded in the same
transaction as its effect, so a redelivered event is acknowledged and not applied again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
from fastapi import APIRouter, Request, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from .db import SessionDep
from .errors import BadRequest, FieldError, Unauthorized
from .signing import verify

EventHandler = Callable[[AsyncSession, list[dict[str, Any]]], Awaitable[None]]


class _Envelope(msgspec.Struct):
    id: str
    type: str
    source: str
    time: str
    data: dict[str, Any]
    specversion: str = "1.0"
    subject: str | None = None
    datacontenttype: str = "application/json"


_batch_decoder = msgspec.json.Decoder(list[_Envelope] | _Envelope)


async def claim_new(session: AsyncSession, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Record event ids; return only the events not seen before (set-based, one statement)."""
    if not events:
        return []
    result = await session.execute(
        text(
            """
            INSERT INTO inbox_events (event_id, event_type, source)
            SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:types AS varchar[]), CAST(:sources AS varchar[]))
            ON CONFLICT (event_id) DO NOTHING
            RETURNING event_id::text
            """
        ),
        {
            "ids": [e["id"] for e in events],
            "types": [e["type"] for e in events],
            "sources": [e["source"] for e in events],
        },
    )
    fresh = {row[0] for row in result}
    return [e for e in events if e["id"] in fresh]


async def apply_events(
    session: AsyncSession, events: list[dict[str, Any]], handlers: Mapping[str, EventHandler]
) -> int:
    """Apply the not-yet-seen events, grouped by type in arrival order. Returns how many were new."""
    fresh = await claim_new(session, events)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in fresh:
        by_type.setdefault(event["type"], []).append(event)
    for type_, group in by_type.items():
        handler = handlers.get(type_)
        if handler is not None:
            await handler(session, group)
    return len(fresh)


def events_router(handlers: Mapping[str, EventHandler]) -> APIRouter:
    """`POST /internal/events`: receives CloudEvents (one, or a batch) from other services' relays."""
    router = APIRouter(tags=["internal"], include_in_schema=False)

    @router.post("/internal/events")
    async def receive(request: Request, session: SessionDep) -> Response:
        body = await request.body()
        secret = request.app.state.settings.event_secret.get_secret_value()
        if not verify(secret, {k.lower(): v for k, v in request.headers.items()}, body):
            raise Unauthorized("missing or invalid webhook signature")
        try:
            decoded = _batch_decoder.decode(body)
        except msgspec.ValidationError as exc:
            raise BadRequest("not a CloudEvents batch", errors=[FieldError(detail=str(exc), pointer="#/")]) from exc
        envelopes = decoded if isinstance(decoded, list) else [decoded]
        events = [msgspec.structs.asdict(e) for e in envelopes]
        applied = await apply_events(session, events, handlers)
        return Response(
            msgspec.json.encode({"received": len(events), "applied": applied}), media_type="application/json"
        )

    return router
