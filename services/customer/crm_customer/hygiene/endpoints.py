"""Hygiene endpoints: duplicate candidates and merges."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.etags import IfMatchDep
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import PageDep

from ..customers.service import to_read
from . import service
from .schemas import DuplicatePage, DuplicateReason, MergeRequest, MergeResult
from .worker import name_groups_lifespan

# Its lifespan runs the name groups' background refresh (worker.py).
router = APIRouter(prefix="/api/v1/customers", tags=["hygiene"], lifespan=name_groups_lifespan)


@router.get("/duplicates", response_model=DuplicatePage)
async def list_duplicates(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read", pii=True)],
    page: PageDep,
    reason: Annotated[DuplicateReason | None, Query(description="only this reason")] = None,
) -> DuplicatePage:
    """Groups of live customers that are probably the same (same email, same phone, similar name in one company).
    Name groups are kept per company and recomputed in the background after a change: `pending_companies` says
    how many companies are still listed as they were before theirs."""
    return await service.duplicates(session, reason=reason, page=page)


@router.post(
    "/{survivor_id:uuid}/merge",
    response_model=MergeResult,
    responses={404: {}, 409: {"description": "already merged, or kinds differ"}, 412: {}},
)
async def merge_customers(
    survivor_id: uuid.UUID,
    data: MergeRequest,
    session: SessionDep,
    principal: Annotated[Principal, allow("customers:write", pii=True)],
    idem: IdempotencyDep,
    if_match: IfMatchDep,
) -> Response:
    """Fold `merged_id` into this customer: its orders, contacts, history and references move here. If-Match
    (the survivor's ETag) is optional."""
    outcome = await service.merge(
        session, principal=principal, survivor_id=survivor_id, merged_id=data.merged_id, if_match=if_match
    )
    result = MergeResult(
        survivor=to_read(outcome.survivor), merged_id=outcome.merged_id, moved=outcome.moved, filled=outcome.filled
    )
    headers = {"Content-Location": f"{router.prefix}/{survivor_id}"}
    return await idem.respond(200, result, headers=headers, version=outcome.survivor.version)
