"""Hygiene endpoints: duplicate candidates and merges."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.etags import etag, parse_if_match
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page

from ..customers.service import to_read
from . import service
from .schemas import DuplicateGroup, DuplicateReason, MergeRequest, MergeResult

router = APIRouter(prefix="/api/v1/customers", tags=["hygiene"])


@router.get("/duplicates", response_model=Page[DuplicateGroup])
async def list_duplicates(
    request: Request,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read", pii=True)],
    reason: Annotated[DuplicateReason | None, Query(description="only this reason")] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Page[DuplicateGroup]:
    """Groups of live customers that are probably the same (same email, same phone, similar name in one company)."""
    groups, next_cursor = await service.duplicates(
        session,
        reason=reason,
        cursor=cursor,
        limit=limit,
        secret=request.app.state.settings.cursor_secret.get_secret_value(),
    )
    return Page[DuplicateGroup](items=groups, next_cursor=next_cursor)


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
    if_match: Annotated[str | None, Header(alias="If-Match", description="the survivor's ETag (optional)")] = None,
) -> Response:
    """Fold `merged_id` into this customer: its orders, contacts, history and references move here."""
    if (replay := await idem.claim()) is not None:
        return replay
    outcome = await service.merge(
        session,
        principal=principal,
        survivor_id=survivor_id,
        merged_id=data.merged_id,
        if_match=parse_if_match(if_match),
    )
    result = MergeResult(
        survivor=to_read(outcome.survivor), merged_id=outcome.merged_id, moved=outcome.moved, filled=outcome.filled
    )
    return await idem.respond(
        200,
        result.model_dump_json().encode(),
        headers={"ETag": etag(outcome.survivor.version), "Content-Location": f"{router.prefix}/{survivor_id}"},
    )
