"""Complaints endpoints: the taxonomy and SLAs, the complaint workflow, and the reports managers chart.
Thin handlers; the rules live in service.py."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.bounds import Day
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.etags import etag, parse_if_match
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page, parse_sort

from . import service
from .schemas import (
    CategoryCreate,
    CategoryRead,
    CategoryUpdate,
    ComplaintDetail,
    ComplaintFilters,
    ComplaintOpen,
    ComplaintRead,
    ComplaintTransition,
    ComplaintUpdate,
    DailyReport,
    FirstContactResolutionReport,
    OverdueReport,
    RepeatComplainantsReport,
    Severity,
    SlaRead,
    SlaUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["complaints"])
BASE = "/complaints"
READ, WRITE = "complaints:read", "complaints:write"
IfMatch = Annotated[str | None, Header(alias="If-Match", description="optional: the ETag from a read")]
FromQuery = Annotated[Day | None, Query(alias="from", description="first UTC day; default 29 days before `to`")]
ToQuery = Annotated[Day | None, Query(alias="to", description="last UTC day, inclusive; default today")]


# -- taxonomy and SLAs ---------------------------------------------------------------------------


@router.get(f"{BASE}/categories", response_model=list[CategoryRead])
async def list_categories(
    session: ReadSessionDep, principal: Annotated[Principal, allow(READ)], include_inactive: bool = False
) -> list[CategoryRead]:
    """The complaint categories, active ones unless `include_inactive`."""
    rows = await service.list_categories(session, include_inactive=include_inactive)
    return [CategoryRead.model_validate(c) for c in rows]


@router.post(
    f"{BASE}/categories", status_code=201, response_model=CategoryRead, responses={409: {"description": "key taken"}}
)
async def create_category(
    data: CategoryCreate, session: SessionDep, principal: Annotated[Principal, allow(WRITE)], idem: IdempotencyDep
) -> Response:
    """Add a user-defined complaint category."""
    if (replay := await idem.claim()) is not None:
        return replay
    category = await service.create_category(session, data)
    body = CategoryRead.model_validate(category).model_dump_json().encode()
    return await idem.respond(201, body, headers={"Location": f"{router.prefix}{BASE}/categories/{category.key}"})


@router.patch(
    f"{BASE}/categories/{{key}}",
    response_model=CategoryRead,
    responses={409: {"description": "a system category keeps its label"}},
)
async def update_category(
    key: str,
    data: CategoryUpdate,
    session: SessionDep,
    principal: Annotated[Principal, allow(WRITE)],
    idem: IdempotencyDep,
) -> Response:
    """Relabel a user-defined category, or (de)activate any category."""
    if (replay := await idem.claim()) is not None:
        return replay
    category = await service.update_category(session, key, data)
    return await idem.respond(200, CategoryRead.model_validate(category).model_dump_json().encode())


@router.get(f"{BASE}/slas", response_model=list[SlaRead])
async def list_slas(session: ReadSessionDep, principal: Annotated[Principal, allow(READ)]) -> list[SlaRead]:
    """Hours a complaint of each severity may stay unresolved."""
    return [SlaRead.model_validate(s) for s in await service.list_slas(session)]


@router.put(f"{BASE}/slas/{{severity}}", response_model=SlaRead)
async def put_sla(
    severity: Annotated[Severity, Path()],
    data: SlaUpdate,
    session: SessionDep,
    principal: Annotated[Principal, allow(WRITE)],
    idem: IdempotencyDep,
) -> Response:
    """Set the SLA of a severity; applies to due dates computed from now on."""
    if (replay := await idem.claim()) is not None:
        return replay
    sla = await service.put_sla(session, severity, data.resolve_within_hours)
    return await idem.respond(200, SlaRead.model_validate(sla).model_dump_json().encode())


# -- reports -------------------------------------------------------------------------------------


@router.get(f"{BASE}/reports/daily", response_model=DailyReport)
async def daily_report(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    day_from: FromQuery = None,
    day_to: ToQuery = None,
    by: Literal["category", "severity"] = "category",
) -> DailyReport:
    """Complaints opened per day and category (or severity), zero-filled; at most 366 days."""
    return await service.daily_report(session, day_from=day_from, day_to=day_to, by=by)


@router.get(f"{BASE}/reports/first-contact-resolution", response_model=FirstContactResolutionReport)
async def first_contact_resolution_report(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    day_from: FromQuery = None,
    day_to: ToQuery = None,
) -> FirstContactResolutionReport:
    """Share of the complaints resolved in the window that were resolved at the first contact."""
    return await service.first_contact_resolution_report(session, day_from=day_from, day_to=day_to)


@router.get(f"{BASE}/reports/overdue", response_model=OverdueReport)
async def overdue_report(
    session: ReadSessionDep, principal: Annotated[Principal, allow(READ)], limit: LimitQuery = DEFAULT_LIMIT
) -> OverdueReport:
    """Open and in-progress complaints past their due date, most overdue first."""
    return await service.overdue_report(session, limit=limit)


@router.get(f"{BASE}/reports/repeat-complainants", response_model=RepeatComplainantsReport)
async def repeat_complainants_report(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    min_complaints: Annotated[int, Query(ge=1, le=1000)] = 2,
    window_days: Annotated[int, Query(ge=1, le=3660)] = 90,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> RepeatComplainantsReport:
    """Customers with at least `min_complaints` complaints opened in the last `window_days` days."""
    return await service.repeat_complainants_report(
        session, min_complaints=min_complaints, window_days=window_days, limit=limit
    )


# -- complaints ----------------------------------------------------------------------------------


@router.post(BASE, status_code=201, response_model=ComplaintRead)
async def open_complaint(
    data: ComplaintOpen, session: SessionDep, principal: Annotated[Principal, allow(WRITE)], idem: IdempotencyDep
) -> Response:
    """Record a complaint: status open, due by its severity's SLA; tags the customer `complainant`."""
    if (replay := await idem.claim()) is not None:
        return replay
    complaint = await service.open_complaint(session, principal=principal, data=data)
    body = service.to_read(complaint).model_dump_json().encode()
    headers = {"ETag": etag(complaint.version), "Location": f"{router.prefix}{BASE}/{complaint.id}"}
    return await idem.respond(201, body, headers=headers)


@router.get(BASE, response_model=Page[ComplaintRead])
async def list_complaints(
    request: Request,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    filters: Annotated[ComplaintFilters, Query()],
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    sort: Annotated[str | None, Query(description="-opened_at (default) or +opened_at")] = None,
) -> Page[ComplaintRead]:
    """List complaints with filters, newest first by default; cursor pagination."""
    (key,) = parse_sort(sort, ("opened_at",), "-opened_at")
    rows, next_cursor = await service.list_complaints(
        session,
        filters=filters,
        descending=key.descending,
        cursor=cursor,
        limit=limit,
        secret=request.app.state.settings.cursor_secret.get_secret_value(),
    )
    return Page[ComplaintRead](items=[service.to_read(c) for c in rows], next_cursor=next_cursor)


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
    if_match: IfMatch = None,
) -> Response:
    """Change owner, category, severity (recomputes due_at), subject or description."""
    if (replay := await idem.claim()) is not None:
        return replay
    complaint = await service.update(
        session, principal=principal, complaint_id=complaint_id, data=data, if_match=parse_if_match(if_match)
    )
    body = service.to_read(complaint).model_dump_json().encode()
    return await idem.respond(200, body, headers={"ETag": etag(complaint.version)})


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
    if_match: IfMatch = None,
) -> Response:
    """Move a complaint: start, resolve, close or reopen."""
    if (replay := await idem.claim()) is not None:
        return replay
    complaint = await service.transition(
        session, principal=principal, complaint_id=complaint_id, data=data, if_match=parse_if_match(if_match)
    )
    body = service.to_read(complaint).model_dump_json().encode()
    return await idem.respond(200, body, headers={"ETag": etag(complaint.version)})
