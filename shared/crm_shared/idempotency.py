"""Idempotency-Key on writes (IETF draft "The Idempotency-Key HTTP Header Field", Stripe).

The key is claimed with INSERT ... ON CONFLICT in the request's own transaction, and the response is
stored in that same transaction: the record and the change commit together or not at all. A request
that fails rolls back its claim, so it can be retried with the same key.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from .auth import principal_from
from .db import SessionDep
from .errors import BadRequest, Conflict, FieldError, Unprocessable

MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"
LOCK_NOT_AVAILABLE = "55P03"

_CLAIM = text(
    """
    INSERT INTO idempotency_keys (client_id, key, method, path, request_hash, expires_at)
    VALUES (:client, :key, :method, :path, :hash, :expires)
    ON CONFLICT (client_id, key) DO UPDATE
        SET method = EXCLUDED.method, path = EXCLUDED.path, request_hash = EXCLUDED.request_hash,
            response_status = NULL, response_body = NULL, response_type = NULL,
            created_at = now(), expires_at = EXCLUDED.expires_at
        WHERE idempotency_keys.expires_at < now()
    RETURNING 1
    """
)


class Idempotency:
    """Per-request handle: `await idem.claim()` returns a stored replay or None (go ahead);
    `await idem.respond(...)` stores and returns the response."""

    def __init__(
        self,
        *,
        session: AsyncSession,
        client_id: str,
        key: str,
        method: str,
        path: str,
        body: bytes,
        ttl: timedelta,
        wait_ms: int,
    ) -> None:
        self.session = session
        self.client_id, self.key, self.method, self.path = client_id, key, method, path
        self.request_hash = hashlib.sha256(body).digest()
        self.ttl, self.wait_ms = ttl, wait_ms

    async def claim(self) -> Response | None:
        # A concurrent request holding the same key makes this INSERT wait on its row lock; when that
        # request commits we see its record and replay it. Past wait_ms we answer 409 instead.
        await self.session.execute(text(f"SET LOCAL lock_timeout = {int(self.wait_ms)}"))
        try:
            claimed = await self.session.scalar(
                _CLAIM,
                {
                    "client": self.client_id,
                    "key": self.key,
                    "method": self.method,
                    "path": self.path,
                    "hash": self.request_hash,
                    "expires": datetime.now(UTC) + self.ttl,
                },
            )
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                raise Conflict(
                    "a request with this Idempotency-Key is still being processed",
                    headers={"Retry-After": "1"},
                ) from exc
            raise
        await self.session.execute(text("SET LOCAL lock_timeout = DEFAULT"))
        if claimed:
            return None
        row = (
            await self.session.execute(
                text(
                    "SELECT method, path, request_hash, response_status, response_body, response_type "
                    "FROM idempotency_keys WHERE client_id = :client AND key = :key"
                ),
                {"client": self.client_id, "key": self.key},
            )
        ).one()
        if row.method != self.method or row.path != self.path or bytes(row.request_hash) != self.request_hash:
            raise Unprocessable(
                "this Idempotency-Key was already used with a different request",
                errors=[FieldError(detail="key reused with another method, path or body", header="Idempotency-Key")],
            )
        if row.response_status is None:
            raise Conflict("a request with this Idempotency-Key is still being processed", headers={"Retry-After": "1"})
        return Response(
            bytes(row.response_body),
            status_code=row.response_status,
            media_type=row.response_type,
            headers={REPLAYED_HEADER: "true"},
        )

    async def respond(
        self,
        status: int,
        body: bytes,
        *,
        media_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> Response:
        await self.session.execute(
            text(
                "UPDATE idempotency_keys SET response_status = :status, response_body = :body, "
                "response_type = :type WHERE client_id = :client AND key = :key"
            ),
            {"status": status, "body": body, "type": media_type, "client": self.client_id, "key": self.key},
        )
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
    settings = request.app.state.settings
    return Idempotency(
        session=session,
        client_id=principal_from(request).client_id,
        key=idempotency_key,
        method=request.method,
        path=request.url.path,
        body=await request.body(),
        ttl=timedelta(hours=settings.idempotency_ttl_hours),
        wait_ms=settings.idempotency_wait_ms,
    )


IdempotencyDep = Annotated[Idempotency, Depends(idempotency, scope="function")]


async def purge_expired(session: AsyncSession) -> int:
    result = await session.execute(text("DELETE FROM idempotency_keys WHERE expires_at < now()"))
    return result.rowcount or 0
