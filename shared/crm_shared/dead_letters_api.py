"""`{the service's first API prefix}/dead-letters`: the events this service could not apply, for admins.

  GET    /dead-letters                      list, newest first (filters, cursor pages); no payloads
  GET    /dead-letters/{id}                 one, with its payload (may hold personal data: needs pii:read)
  POST   /dead-letters/{id}/replay          apply it again through the same handlers
  POST   /dead-letters/replay               the same for every match of the filters, oldest first
  DELETE /dead-letters/{id}                 discard it for good

Callers need the prefix's family scope (what the gateway checks: read or write) and events:admin, which
only admins hold; partners never. Writes take an Idempotency-Key like every write."""

# No `from __future__ import annotations`: the endpoints are built in a function, and FastAPI must
# evaluate their annotations.
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Body, Path, Query, Response
from pydantic import BaseModel, Field

from . import dead_letters
from .access import allow
from .auth import Principal
from .bounds import Instant, check_period
from .db import ReadSessionDep, SessionDep, driver_connection
from .dead_letters import EVENTS_ADMIN_SCOPE
from .errors import NotFound
from .idempotency import IdempotencyDep
from .inbox import EventHandler, replay
from .pagination import Page, PageRequest, invalid_cursor, page_query
from .pii import PII_SCOPE

MAX_LIST_LIMIT = 500
MAX_REPLAY = 1000
NAME_PATTERN = r"^[^\x00-\x1f\x7f]+$"
DeadLetterId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the dead letter's id")]


class DeadLetterSummary(BaseModel):
    id: int
    event_id: uuid.UUID | None = Field(description="the event's id; null when its envelope had no valid one")
    event_type: str = Field(examples=["order.created"])
    source: str = Field(examples=["/services/customer"])
    reason: str = Field(description="why it could not be applied, the last time it was tried")
    attempts: int = Field(description="how many times it failed: deliveries and replays")
    dead_lettered_at: datetime
    last_failed_at: datetime


class DeadLetter(DeadLetterSummary):
    payload: Any = Field(description="the CloudEvents envelope as it was received")


class ReplayResult(BaseModel):
    id: int
    event_id: uuid.UUID | None
    outcome: Literal["applied", "already_applied", "failed"] = Field(
        description="`already_applied`: a redelivery applied the event meanwhile; the dead letter is gone too"
    )
    reason: str | None = Field(default=None, description="why it failed again (it stays, with this reason)")


class ReplayFilter(BaseModel):
    type: str | None = Field(default=None, max_length=255, pattern=NAME_PATTERN, description="exactly")
    source: str | None = Field(default=None, max_length=255, pattern=NAME_PATTERN, description="exactly")
    from_: Instant | None = Field(default=None, alias="from", description="dead-lettered at or after")
    to: Instant | None = Field(default=None, description="dead-lettered before")
    limit: int = Field(default=MAX_REPLAY, ge=1, le=MAX_REPLAY, description="at most this many, oldest first")


class ReplayReport(BaseModel):
    applied: int
    already_applied: int
    failed: int
    more: bool = Field(description="more dead letters match: replay again to continue")
    items: list[ReplayResult]


def _not_found(dead_letter_id: int) -> NotFound:
    return NotFound(f"no dead letter {dead_letter_id}")


def dead_letters_router(prefix: str, family: str, handlers: Mapping[str, EventHandler]) -> APIRouter:
    """The dead-letter admin API under `prefix`, replaying through `handlers` (the service's own)."""
    router = APIRouter(prefix=f"{prefix}/dead-letters", tags=["dead letters"])
    read, write = f"{family}:read", f"{family}:write"

    @router.get("", response_model=Page[DeadLetterSummary], responses={400: {"description": "invalid cursor"}})
    async def list_dead_letters(
        session: ReadSessionDep,
        principal: Annotated[Principal, allow(read, extra=(EVENTS_ADMIN_SCOPE,))],
        page: Annotated[PageRequest, page_query(MAX_LIST_LIMIT)],
        type_: Annotated[str | None, Query(alias="type", max_length=255, pattern=NAME_PATTERN)] = None,
        source: Annotated[str | None, Query(max_length=255, pattern=NAME_PATTERN)] = None,
        from_: Annotated[Instant | None, Query(alias="from", description="dead-lettered at or after")] = None,
        to: Annotated[Instant | None, Query(description="dead-lettered before")] = None,
    ) -> Page[DeadLetterSummary]:
        """Events this service could not apply, newest first, without their payloads."""
        check_period(from_, to)
        filters = {
            "type": type_,
            "source": source,
            "from": from_.isoformat() if from_ else None,
            "to": to.isoformat() if to else None,
        }
        after = page.after(filters, shape=(int,))
        if after is not None and after[0] <= 0:  # ids start at 1: a signed cursor never holds less
            raise invalid_cursor()
        rows = await dead_letters.page(
            await driver_connection(session),
            event_type=type_,
            source=source,
            from_=from_,
            to=to,
            before_id=after[0] if after else None,
            limit=page.limit + 1,
        )
        rows, next_cursor = page.cut(rows, filters, lambda row: [row.id])
        items = [DeadLetterSummary.model_validate(msgspec.structs.asdict(r)) for r in rows]
        return Page[DeadLetterSummary](items=items, next_cursor=next_cursor)

    @router.get("/{dead_letter_id}", response_model=DeadLetter)
    async def get_dead_letter(
        dead_letter_id: DeadLetterId,
        session: ReadSessionDep,
        principal: Annotated[Principal, allow(read, extra=(EVENTS_ADMIN_SCOPE, PII_SCOPE), pii=True)],
    ) -> DeadLetter:
        """One dead letter with the envelope as received. Payloads may carry personal data that cannot be
        masked field by field, so this read needs pii:read (and is audited)."""
        row = await dead_letters.get(await driver_connection(session), dead_letter_id)
        if row is None:
            raise _not_found(dead_letter_id)
        fields = msgspec.structs.asdict(row)
        return DeadLetter.model_validate({**fields, "payload": msgspec.json.decode(row.payload or b"null")})

    @router.post("/{dead_letter_id}/replay", response_model=ReplayResult)
    async def replay_one(
        dead_letter_id: DeadLetterId,
        session: SessionDep,
        principal: Annotated[Principal, allow(write, extra=(EVENTS_ADMIN_SCOPE,))],
        idem: IdempotencyDep,
    ) -> Response:
        """Apply it again. Applied: it is gone, and its event id recorded as applied. Failing again: it
        stays, with the new reason (`outcome: failed`)."""
        row = await dead_letters.get(await driver_connection(session), dead_letter_id, lock=True)
        if row is None:
            raise _not_found(dead_letter_id)
        (result,) = await replay(session, [row], handlers)
        body = ReplayResult.model_validate(result, from_attributes=True).model_dump_json().encode()
        return await idem.respond(200, body)

    @router.post("/replay", response_model=ReplayReport)
    async def replay_matching(
        session: SessionDep,
        principal: Annotated[Principal, allow(write, extra=(EVENTS_ADMIN_SCOPE,))],
        idem: IdempotencyDep,
        filters: Annotated[ReplayFilter | None, Body()] = None,
    ) -> Response:
        """Apply again every dead letter matching the filters (all without any), oldest first, at most
        `limit` per call; `more` says whether others match."""
        f = filters or ReplayFilter()
        check_period(f.from_, f.to)
        rows = await dead_letters.claim_matching(
            await driver_connection(session),
            event_type=f.type,
            source=f.source,
            from_=f.from_,
            to=f.to,
            limit=f.limit + 1,
        )
        results = await replay(session, rows[: f.limit], handlers)
        items = [ReplayResult.model_validate(r, from_attributes=True) for r in results]
        report = ReplayReport(
            applied=sum(r.outcome == "applied" for r in items),
            already_applied=sum(r.outcome == "already_applied" for r in items),
            failed=sum(r.outcome == "failed" for r in items),
            more=len(rows) > f.limit,
            items=items,
        )
        return await idem.respond(200, report.model_dump_json().encode())

    @router.delete("/{dead_letter_id}", status_code=204)
    async def discard_dead_letter(
        dead_letter_id: DeadLetterId,
        session: SessionDep,
        principal: Annotated[Principal, allow(write, extra=(EVENTS_ADMIN_SCOPE,))],
        idem: IdempotencyDep,
    ) -> Response:
        """Drop it for good: the event is never applied, and a redelivery of it is acknowledged unapplied."""
        conn = await driver_connection(session)
        row = await dead_letters.get(conn, dead_letter_id, lock=True)
        if row is None:
            raise _not_found(dead_letter_id)
        await dead_letters.discard(conn, row)
        return await idem.respond(204, b"")

    return router
