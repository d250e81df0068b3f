"""The audit log: who changed what, and who was shown personal data unmasked.

What is recorded (one `audit_log` row each, with actor, kind, roles, action = method and route
template, resource = concrete path, status, request id):
  - every API write (any method but GET/HEAD) whose handler succeeds. When the handler works in the
    request's transaction (SessionDep), the row is inserted in that transaction just before it
    commits: row and change commit, or roll back, together. A write outside a request transaction
    (e.g. starting a batch run) gets its row in its own statement right after the handler returns.
  - every read of an endpoint declared `allow(..., pii=True)` by a caller holding pii:read, who
    therefore saw emails, phones and addresses unmasked; a masked read records nothing. The row goes
    through the connection the request already holds (its autocommit read session, or its
    transaction), so a read never waits for a second pooled connection while holding one (a pool
    exhausted by such reads would stall them all); only a call with no session at all takes one.
A request that fails (the handler raises: 4xx, 5xx) records nothing: it changed and showed nothing.
Every row is written before the response is sent, so a failing audit insert fails the request (500):
no write commits and no personal data leaves without its row.

Idempotent replays are recorded too, with `detail.replayed: true` and the stored status: the caller
was answered again (with personal data, maybe) although nothing changed.

Costs, measured on the test suite's embedded PostgreSQL (same machine, fsync on, 2 busy cores), medians:
  - a write: the INSERT rides the change's transaction and commit, 0.05-0.08 ms alone, ~0.17 ms
    inside a request; a write request costs ~0.4 ms more end to end (5 indexes, more WAL to flush).
  - an unmasked read: the INSERT commits on its own (autocommit read session), so it waits for a WAL
    flush: ~0.2 ms back to back, ~0.5 ms inside a request; a PII read costs ~0.7-0.9 ms more end to end.
  - a call without any session dependency also checks a pooled connection out: ~0.3-0.5 ms in all.

The hooks: `access.Access` calls `expect` before the handler and `record_unclaimed` after it;
`db.get_session` / `db.get_read_session` call `claim` when they open and `due` + `record` when the
handler has returned; `idempotency` calls `note_response` with the status it answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
import msgspec
from asgi_correlation_id import correlation_id
from fastapi import Request

from . import db  # a module import: db imports this module too
from .auth import Principal
from .pii import PII_SCOPE, redact_query

AUDIT_SCOPE = "audit:read"
READ_METHODS = frozenset({"GET", "HEAD"})
_INSERT = """
    INSERT INTO audit_log (actor, actor_kind, roles, action, resource, status, request_id, detail)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)
"""
# session.info keys set by the idempotency layer: the status it answers, and whether it replayed.
_STATUS, _REPLAYED, _LOCATION = "audit_status", "audit_replayed", "audit_location"


@dataclass(slots=True)
class _State:
    """Per request, in request.state.audit."""

    kind: Literal["write", "read"] | None = None  # what this request must record, if it succeeds
    principal: Principal | None = None
    in_transaction: bool = False  # a SessionDep opened: it records, inside its transaction
    in_read_session: bool = False  # a ReadSessionDep opened: it records reads
    recorded: bool = False


def _state(request: Request) -> _State:
    state = getattr(request.state, "audit", None)
    if state is None:
        state = request.state.audit = _State()
    return state


def expect(request: Request, principal: Principal, *, pii: bool) -> None:
    """Before the handler: what this API call records if it succeeds."""
    state = _state(request)
    state.principal = principal
    if request.method not in READ_METHODS:
        state.kind = "write"
    elif pii and request.method == "GET" and PII_SCOPE in principal.scopes:  # HEAD shows no body
        state.kind = "read"


def claim(request: Request, *, transactional: bool) -> None:
    """A session dependency opened: the row will go through its connection."""
    state = _state(request)
    if transactional:
        state.in_transaction = True
    else:
        state.in_read_session = True


def due(request: Request, *, transactional: bool) -> bool:
    """After the handler returned: must this session dependency write the row now? Writes only in the
    request transaction; reads in it too when there is one, else in the read session."""
    state: _State | None = getattr(request.state, "audit", None)
    if state is None or state.kind is None or state.recorded:
        return False
    if transactional:
        return True
    return state.kind == "read" and not state.in_transaction


async def record(request: Request, conn: asyncpg.Connection, info: dict[str, Any] | None = None) -> None:
    """Insert the request's row on `conn` (in its transaction, if it has one)."""
    state: _State = request.state.audit
    principal = state.principal
    assert principal is not None, "expect() runs first, in the access dependency"
    info = info or {}
    route = request.scope.get("route")
    template = getattr(route, "path_format", None) or request.url.path
    detail: dict[str, Any] = {}
    if info.get(_REPLAYED):
        detail["replayed"] = True
    if location := info.get(_LOCATION):
        detail["location"] = location  # what a create made: its path is not the request's
    if query := request.scope.get("query_string"):
        detail["query"] = redact_query("?" + query.decode("latin-1"))[1:]  # emails, phones: redacted
    await conn.execute(
        _INSERT,
        principal.client_id,
        principal.kind,
        list(principal.roles),
        f"{request.method} {template}",
        request.url.path,
        info.get(_STATUS) or getattr(route, "status_code", None) or 200,
        correlation_id.get(),
        msgspec.json.encode(detail).decode() if detail else None,
    )
    state.recorded = True


async def record_unclaimed(request: Request) -> None:
    """After the handler, for a call no session dependency records: its own pooled connection."""
    state: _State | None = getattr(request.state, "audit", None)
    if state is None or state.kind is None or state.recorded or state.in_transaction:
        return
    if state.kind == "read" and state.in_read_session:
        return
    engine = getattr(request.app.state, "engine", None)
    if engine is None:  # a part without a database keeps no audit log
        return
    async with engine.connect() as conn:
        # No BEGIN was sent on this connection: the INSERT commits on its own.
        await record(request, await db.asyncpg_connection(conn))


def note_response(
    session_info: dict[str, Any], status: int, *, replayed: bool = False, location: str | None = None
) -> None:
    """What the handler answers, for the row written before the commit (the response is built later)."""
    session_info[_STATUS] = status
    if replayed:
        session_info[_REPLAYED] = True
    if location:
        session_info[_LOCATION] = location
