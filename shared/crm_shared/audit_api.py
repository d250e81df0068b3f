"""GET `{the service's first API prefix}/audit`: the service's audit log for admins (audit:read),
newest first, with filters and cursor pagination (the cursor is signed and bound to the filters)."""

# No `from __future__ import annotations`: the endpoint is built in a function, and FastAPI must
# evaluate its annotations, which name the function's arguments.
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from .access import allow
from .audit import AUDIT_SCOPE
from .auth import Principal
from .bounds import Instant, check_period
from .db import ReadSessionDep
from .infra_tables import audit_log
from .pagination import Page, PageRequest, page_query

MAX_AUDIT_LIMIT = 500
ActorKind = Literal["partner", "user", "service"]


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str = Field(description="the caller's id: partner client id, user `sub` or service name")
    actor_kind: ActorKind
    roles: list[str]
    action: str = Field(examples=["PATCH /api/v1/customers/{customer_id}"], description="method and route")
    resource: str = Field(examples=["/api/v1/customers/0b6c1c8e-4f64-4a8e-9d64-2f1e8b2f2a11"])
    status: int = Field(description="the status answered")
    request_id: str | None = Field(description="X-Request-ID of the call, as in the logs")
    detail: dict[str, Any] | None = Field(
        description="`replayed` (an Idempotency-Key replay), `location` (what a create made), "
        "`query` (the query string, personal data redacted)"
    )


def audit_router(prefix: str, read_scope: str) -> APIRouter:
    """The audit query under `prefix`; callers need `read_scope` (what the gateway checks for the
    prefix) and audit:read, which only admins hold. Partners never read it."""
    router = APIRouter(prefix=prefix, tags=["audit"])

    @router.get("/audit", response_model=Page[AuditEntry], responses={400: {"description": "invalid cursor"}})
    async def list_audit(
        session: ReadSessionDep,
        principal: Annotated[Principal, allow(read_scope, extra=(AUDIT_SCOPE,))],
        page: Annotated[PageRequest, page_query(MAX_AUDIT_LIMIT)],
        actor: Annotated[str | None, Query(min_length=1, max_length=200, description="client id")] = None,
        actor_kind: Annotated[ActorKind | None, Query()] = None,
        action: Annotated[
            str | None,
            Query(max_length=500, pattern=r"^[A-Z]+ /\S*$", description="exactly, e.g. `POST /api/v1/customers`"),
        ] = None,
        resource: Annotated[
            str | None, Query(max_length=500, pattern=r"^/\S*$", description="a path prefix: /api/v1/customers/<id>")
        ] = None,
        request_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
        from_: Annotated[Instant | None, Query(alias="from", description="at or after (with time zone)")] = None,
        to: Annotated[Instant | None, Query(description="before (with time zone)")] = None,
    ) -> Page[AuditEntry]:
        """Who changed what, and who read personal data unmasked, newest first; cursor pagination."""
        check_period(from_, to)
        filters = {
            "actor": actor,
            "actor_kind": actor_kind,
            "action": action,
            "resource": resource,
            "request_id": request_id,
            "from": from_.isoformat() if from_ else None,
            "to": to.isoformat() if to else None,
        }
        c = audit_log.c
        query = select(audit_log)
        for column, value in ((c.actor, actor), (c.actor_kind, actor_kind), (c.action, action)):
            if value is not None:
                query = query.where(column == value)
        if request_id is not None:
            query = query.where(c.request_id == request_id)
        if resource is not None:
            query = query.where(c.resource.startswith(resource, autoescape=True))
        if from_ is not None:
            query = query.where(c.at >= from_)
        if to is not None:
            query = query.where(c.at < to)
        # (at, id) newest first: the (…, at, id) indexes serve the continuation as one range.
        return await page.fetch(
            session,
            query,
            order=(c.at.desc(), c.id.desc()),
            binding=filters,
            scalars=False,
            item=lambda row: AuditEntry.model_validate(dict(row._mapping)),
        )

    return router
