"""Churn record endpoints: declared churn, the records inferred from events, reasons and status."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.etags import IfMatchDep, etag
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import Page, PageDep

from ..config import SettingsDep
from . import service
from .schemas import RecordCreate, RecordFilters, RecordRead, RecordUpdate, Suggestions

router = APIRouter(prefix="/api/v1/churn/records", tags=["records"])


@router.post("", status_code=201, response_model=RecordRead, responses={409: {"description": "already churned"}})
async def declare(
    data: RecordCreate,
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, allow("churn:write")],
    idem: IdempotencyDep,
) -> Response:
    """Declare that a customer ended the relationship, with reasons (`churn.detected`)."""
    record = await service.declare(session, settings, data, principal.client_id)
    body = await service.read(session, record)
    return await idem.respond(201, body, location=f"{router.prefix}/{record.id}", version=record.version)


@router.get("", response_model=Page[RecordRead])
async def list_records(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("churn:read")],
    page: PageDep,
    filters: Annotated[RecordFilters, Query()],
) -> Page[RecordRead]:
    """Churn records, newest first; filters customer, status, source, reason, ABC class, segment, region,
    from/to (detection time); cursor pagination."""
    return await service.list_records(session, filters, page)


@router.get("/{record_id:uuid}", response_model=RecordRead)
async def get_record(
    record_id: uuid.UUID,
    response: Response,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("churn:read")],
) -> RecordRead:
    """One churn record with its value at churn and reasons, and its ETag."""
    record = await service.get(session, record_id)
    response.headers["ETag"] = etag(record.version)
    return await service.read(session, record)


@router.patch(
    "/{record_id:uuid}",
    response_model=RecordRead,
    responses={409: {"description": "status transition not allowed"}, 412: {}, 428: {}},
)
async def update_record(
    record_id: uuid.UUID,
    data: RecordUpdate,
    session: SessionDep,
    principal: Annotated[Principal, allow("churn:write")],
    idem: IdempotencyDep,
    if_match: IfMatchDep,
) -> Response:
    """Replace the reasons, the note, or move the status (If-Match required)."""
    record = await service.update(session, record_id, data, if_match, principal.client_id)
    return await idem.respond(200, await service.read(session, record), version=record.version)


@router.get("/{record_id:uuid}/suggested-reasons", response_model=Suggestions)
async def suggested_reasons(
    record_id: uuid.UUID, session: ReadSessionDep, principal: Annotated[Principal, allow("churn:read")]
) -> Suggestions:
    """Reasons the customer's complaints point to, each with its evidence; never applied by themselves."""
    return Suggestions(items=await service.suggested_reasons(session, record_id))
