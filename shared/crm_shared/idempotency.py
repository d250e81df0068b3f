"""Idempotency-Key on writes (IETF draft "The Idempotency-Key HTTP Header Field", Stripe).

The key is claimed with INSERT ... ON CONFLICT in the request's own transaction, and the response is
stored in that same transaction: the record and the change commit together or not at all. A request
that fails rolls back its claim, so it can be retried with the same key.

The dependency claims the key before the handler runs: a replay never reaches the handler. It is raised
as `Replayed` (a `db.EarlyAnswer`): the request's session commits the replay's audit row and the app answers
with the stored response; a handler only ends with `return await idem.respond(status, body, ...)`.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Header, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from . import audit
from .auth import Principal
from .db import EarlyAnswer, SessionDep, driver_connection
from .errors import BadRequest, Conflict, FieldError, Unprocessable
from .etags import etag

MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"
HEADER = "Idempotency-Key"
# The draft's key is a structured-field string: printable ASCII. It is stored in a text column, where a
# NUL failed the whole request.
KEY_PATTERN = f"^[ -~]{{1,{MAX_KEY_LENGTH}}}$"
_KEY = re.compile(f"[ -~]{{1,{MAX_KEY_LENGTH}}}")

_CLAIM = """
    INSERT INTO idempotency_keys (client_id, key, method, path, request_hash, expires_at)
    VALUES ($1, $2, $3, $4, $5, now() + $6::interval)
    ON CONFLICT (client_id, key) DO UPDATE
        SET method = EXCLUDED.method, path = EXCLUDED.path, request_hash = EXCLUDED.request_hash,
            response_status = NULL, response_body = NULL, response_type = NULL,
            created_at = now(), expires_at = EXCLUDED.expires_at
        WHERE idempotency_keys.expires_at < now()
    RETURNING 1
"""
_STORED = """
    SELECT method, path, request_hash, response_status, response_body, response_type
    FROM idempotency_keys WHERE client_id = $1 AND key = $2
"""
_RESPOND = """
    UPDATE idempotency_keys SET response_status = $3, response_body = $4, response_type = $5
    WHERE client_id = $1 AND key = $2
"""


class Replayed(EarlyAnswer):
    """The key was used before by this same request: `response` is the answer stored then."""


class Idempotency:
    """Per-request handle, claimed by the dependency: `await idem.respond(...)` stores and returns the
    response."""

    def __init__(
        self, *, session: AsyncSession, client_id: str, key: str, method: str, path: str, body: bytes, ttl: timedelta
    ) -> None:
        self.session = session
        self.client_id, self.key, self.method, self.path = client_id, key, method, path
        self.request_hash = hashlib.sha256(body).digest()
        self.ttl = ttl

    async def claim(self) -> Response | None:
        """Claim the key: None to go ahead, else the stored replay. The dependency calls it once."""
        # A concurrent request holding the same key makes this INSERT wait on its row lock; when that
        # request commits we see its record and replay it. Past the connection's lock_timeout the
        # wait fails and we answer 409.
        conn = await driver_connection(self.session)
        try:
            claimed = await conn.fetchval(
                _CLAIM, self.client_id, self.key, self.method, self.path, self.request_hash, self.ttl
            )
        except asyncpg.LockNotAvailableError as exc:
            raise Conflict(
                "a request with this Idempotency-Key is still being processed", headers={"Retry-After": "1"}
            ) from exc
        if claimed:
            return None
        row = await conn.fetchrow(_STORED, self.client_id, self.key)
        assert row is not None, "the claim's ON CONFLICT locked the stored row until this transaction ends"
        if row["method"] != self.method or row["path"] != self.path or bytes(row["request_hash"]) != self.request_hash:
            raise Unprocessable(
                "this Idempotency-Key was already used with a different request",
                errors=[FieldError(detail="key reused with another method, path or body", header="Idempotency-Key")],
            )
        if row["response_status"] is None:
            raise Conflict("a request with this Idempotency-Key is still being processed", headers={"Retry-After": "1"})
        audit.note_response(self.session.info, row["response_status"], replayed=True)
        return Response(
            bytes(row["response_body"]),
            status_code=row["response_status"],
            media_type=row["response_type"],
            headers={REPLAYED_HEADER: "true"},
        )

    async def respond(
        self,
        status: int,
        body: bytes | BaseModel,
        *,
        media_type: str = "application/json",
        headers: dict[str, str] | None = None,
        location: str | None = None,
        version: int | None = None,
    ) -> Response:
        """Store and return the answer: `body` as bytes or a model (as JSON); `location` and `version`
        (a row version, sent as its ETag) join `headers`."""
        if isinstance(body, BaseModel):
            body = body.model_dump_json().encode()
        headers = dict(headers or {})
        if location is not None:
            headers["Location"] = location
        if version is not None:
            headers["ETag"] = etag(version)
        conn = await driver_connection(self.session)
        await conn.execute(_RESPOND, self.client_id, self.key, status, body, media_type)
        audit.note_response(self.session.info, status, location=headers.get("Location"))
        return Response(body, status_code=status, media_type=media_type, headers=headers)


async def idempotency(
    request: Request,
    session: SessionDep,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", description="Unique per write; a retry with the same key is replayed"),
    ] = None,
) -> Idempotency:
    if not idempotency_key:
        raise BadRequest(
            "writes need an Idempotency-Key header",
            errors=[FieldError(detail="required", header="Idempotency-Key")],
        )
    if len(idempotency_key) > MAX_KEY_LENGTH:
        raise BadRequest(
            "Idempotency-Key is too long",
            errors=[FieldError(detail=f"at most {MAX_KEY_LENGTH} characters", header="Idempotency-Key")],
        )
    if _KEY.fullmatch(idempotency_key) is None:
        raise BadRequest(
            "Idempotency-Key must be printable ASCII",
            errors=[FieldError(detail="printable ASCII characters only", header="Idempotency-Key")],
        )
    settings = request.app.state.settings
    principal: Principal = request.state.principal
    idem = Idempotency(
        session=session,
        # Kind and id: a user whose JWT `sub` equals a partner's client id must not replay its responses.
        client_id=principal.key,
        key=idempotency_key,
        method=request.method,
        path=request.url.path,
        body=await request.body(),
        ttl=timedelta(hours=settings.idempotency_ttl_hours),
    )
    if (replay := await idem.claim()) is not None:
        raise Replayed(replay)
    return idem


IdempotencyDep = Annotated[Idempotency, Depends(idempotency, scope="function")]


def document_idempotency(spec: dict[str, Any]) -> dict[str, Any]:
    """Mark the Idempotency-Key header required wherever an operation takes it. The dependency declares
    it optional only so that a request without it gets this module's problem (400 naming the header)."""
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else ():
                if parameter.get("in") == "header" and parameter.get("name") == HEADER:
                    parameter["required"] = True
                    parameter["schema"] = {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_KEY_LENGTH,
                        "pattern": KEY_PATTERN,
                        "title": HEADER,
                    }
    return spec
