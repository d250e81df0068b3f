"""Timeline endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep
from crm_shared.pagination import Page, PageDep

from . import service
from .schemas import KINDS, TimelineEntry

router = APIRouter(prefix="/api/v1/customers", tags=["timeline"])


@router.get("/{customer_id:uuid}/timeline", response_model=Page[TimelineEntry])
async def get_timeline(
    customer_id: uuid.UUID,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read")],
    page: PageDep,
    kinds: Annotated[str | None, Query(max_length=500, description=f"comma list of: {', '.join(KINDS)}")] = None,
) -> Page[TimelineEntry]:
    """Orders, complaints, interactions and consent changes of the customer, newest first; cursor pagination."""
    return await service.timeline(session, customer_id=customer_id, kinds=service.parse_kinds(kinds), page=page)
