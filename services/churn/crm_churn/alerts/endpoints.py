"""Mass-churn alert endpoints (alerts are raised by the records service; read-only here)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep
from crm_shared.pagination import Page, PageDep

from . import service
from .schemas import AlertFilters, AlertRead

router = APIRouter(prefix="/api/v1/churn/alerts", tags=["alerts"])


@router.get("", response_model=Page[AlertRead])
async def list_alerts(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("churn:read")],
    page: PageDep,
    filters: Annotated[AlertFilters, Query()],
) -> Page[AlertRead]:
    """Mass-churn alerts, newest month first; filters dimension, from/to; cursor pagination."""
    return await service.list_alerts(session, filters, page)


@router.get("/{alert_id:uuid}", response_model=AlertRead)
async def get_alert(
    alert_id: uuid.UUID, session: ReadSessionDep, principal: Annotated[Principal, allow("churn:read")]
) -> AlertRead:
    """One mass-churn alert with its figures and recommended response."""
    return AlertRead.model_validate(await service.get(session, alert_id))
