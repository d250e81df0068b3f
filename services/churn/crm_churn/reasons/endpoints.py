"""Churn reason endpoints: both taxonomies (cause, recoverability) as data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.etags import IfMatchDep, etag
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import Page, PageDep

from . import service
from .schemas import ReasonCreate, ReasonFilters, ReasonRead, ReasonUpdate

router = APIRouter(prefix="/api/v1/churn/reasons", tags=["reasons"])
ReasonKey = Annotated[str, Path(max_length=64, description="the reason's key")]


@router.get("", response_model=Page[ReasonRead])
async def list_reasons(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("churn:read")],
    page: PageDep,
    filters: Annotated[ReasonFilters, Query()],
) -> Page[ReasonRead]:
    """The reasons by taxonomy and key (retired ones only with include_retired); cursor pagination."""
    return await service.list_reasons(session, filters, page)


@router.post("", status_code=201, response_model=ReasonRead, responses={409: {"description": "key taken"}})
async def create_reason(
    data: ReasonCreate,
    session: SessionDep,
    principal: Annotated[Principal, allow("churn:write")],
    idem: IdempotencyDep,
) -> Response:
    """Add a reason to a taxonomy."""
    reason = await service.create(session, data)
    return await idem.respond(201, service.to_read(reason), location=f"{router.prefix}/{reason.key}", version=1)


@router.get("/{key}", response_model=ReasonRead)
async def get_reason(
    key: ReasonKey, response: Response, session: ReadSessionDep, principal: Annotated[Principal, allow("churn:read")]
) -> ReasonRead:
    """One reason (retired or not), with its ETag."""
    reason = await service.get(session, key)
    response.headers["ETag"] = etag(reason.version)
    return service.to_read(reason)


@router.patch("/{key}", response_model=ReasonRead, responses={412: {"description": "stale"}, 428: {}})
async def update_reason(
    key: ReasonKey,
    data: ReasonUpdate,
    session: SessionDep,
    principal: Annotated[Principal, allow("churn:write")],
    idem: IdempotencyDep,
    if_match: IfMatchDep,
) -> Response:
    """Rename, redescribe, reflag controllable, retire or reinstate a reason (If-Match required)."""
    reason = await service.update(session, key, data, if_match)
    return await idem.respond(200, service.to_read(reason), version=reason.version)
