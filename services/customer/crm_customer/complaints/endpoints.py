"""Complaint endpoints: open, read, list, edit and move complaints through their workflow. Thin
handlers; the rules live in service.py (the taxonomy and reports have their own endpoint modules)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.etags import IfMatchDep, etag
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import Page, PageDep, parse_sort

from . import service
from .schemas import (
    ComplaintDetail,
    ComplaintFilters,
    ComplaintOpen,
    ComplaintRead,
    ComplaintTransition,
    ComplaintUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["complaints"])
BASE = "/complaints"
READ, WRITE = "complaints:read", "complaints:write"


@router.post(BASE, status_code=201, response_model=ComplaintRead)
async def open_complaint(
    data: ComplaintOpen, session: SessionDep, principal: Annotated[Principal, allow(WRITE)], idem: IdempotencyDep
) -> Response:
    """Record a complaint: status open, due by its severity's SLA; tags the customer `complainant`."""
    complaint = await service.open_complaint(session, principal=principal, data=data)
    location = f"{router.prefix}{BASE}/{complaint.id}"
    return await idem.respond(201, service.to_read(complaint), location=location, version=complaint.version)


@router.get(BASE, response_model=Page[ComplaintRead])
async def list_complaints(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    page: PageDep,
    filters: Annotated[ComplaintFilters, Query()],
    sort: Annotated[str | None, Query(description="-opened_at (default) or +opened_at")] = None,
) -> Page[ComplaintRead]:
    """List complaints with filters, newest first by default; cursor pagination."""
    (key,) = parse_sort(sort, ("opened_at",), "-opened_at")
    return await service.list_complaints(session, filters=filters, descending=key.descending, page=page)


@router.get(f"{BASE}/{{complaint_id:uuid}}", response_model=ComplaintDetail)
async def get_complaint(
    complaint_id: uuid.UUID, session: ReadSessionDep, principal: Annotated[Principal, allow(READ)]
) -> Response:
    """One complaint with its status history; the ETag is what `If-Match` expects."""
    complaint = await service.get(session, complaint_id)
    body = (await service.detail(session, complaint)).model_dump_json()
    return Response(body, media_type="application/json", headers={"ETag": etag(complaint.version)})


@router.patch(
    f"{BASE}/{{complaint_id:uuid}}",
    response_model=ComplaintRead,
    responses={409: {"description": "closed"}, 412: {"description": "stale If-Match"}},
)
async def update_complaint(
    complaint_id: uuid.UUID,
    data: ComplaintUpdate,
    session: SessionDep,
    principal: Annotated[Principal, allow(WRITE)],
    idem: IdempotencyDep,
    if_match: IfMatchDep,
) -> Response:
    """Change owner, category, severity (recomputes due_at), subject or description."""
    complaint = await service.update(
        session, principal=principal, complaint_id=complaint_id, data=data, if_match=if_match
    )
    return await idem.respond(200, service.to_read(complaint), version=complaint.version)


@router.post(
    f"{BASE}/{{complaint_id:uuid}}/transitions",
    response_model=ComplaintRead,
    responses={409: {"description": "not allowed from the current status"}, 412: {"description": "stale If-Match"}},
)
async def transition_complaint(
    complaint_id: uuid.UUID,
    data: ComplaintTransition,
    session: SessionDep,
    principal: Annotated[Principal, allow(WRITE)],
    idem: IdempotencyDep,
    if_match: IfMatchDep,
) -> Response:
    """Move a complaint: start, resolve, close or reopen."""
    complaint = await service.transition(
        session, principal=principal, complaint_id=complaint_id, data=data, if_match=if_match
    )
    return await idem.respond(200, service.to_read(complaint), version=complaint.version)
