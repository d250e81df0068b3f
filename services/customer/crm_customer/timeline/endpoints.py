"""Timeline endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep
from crm_shared.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page

from . import service
from .schemas import KINDS, TimelineEntry

router = APIRouter(prefix="/api/v1/customers", tags=["timeline"])


@router.get("/{customer_id:uuid}/timeline", response_model=Page[TimelineEntry])
async def get_timeline(
    customer_id: uuid.UUID,
    request: Request,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read")],
    kinds: Annotated[str | None, Query(max_length=500, description=f"comma list of: {', '.join(KINDS)}")] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Page[TimelineEntry]:
    """Orders, complaints, interactions and consent changes of the customer, newest first; cursor pagination."""
    entries, next_cursor = await service.timeline(
        session,
        customer_id=customer_id,
        kinds=service.parse_kinds(kinds),
        cursor=cursor,
        limit=limit,
        secret=request.app.state.settings.cursor_secret.get_secret_value(),
    )
    return Page[TimelineEntry](items=entries, next_cursor=next_cursor)
