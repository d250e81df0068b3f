"""Points-ledger endpoints: the monthly membership points the batch job records, per month or customer. Thin
handlers; the rules live in service.py."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep
from crm_shared.pagination import Page, PageDep

from . import service
from .schemas import CustomerPoints, PointsRead

router = APIRouter(prefix="/api/v1/scores", tags=["points"])
READ = "scores:read"
MonthQuery = Annotated[str | None, Query(max_length=16, examples=["2026-11"], description="one month, YYYY-MM")]
FromQuery = Annotated[str | None, Query(alias="from", max_length=16, description="first month, YYYY-MM, inclusive")]
ToQuery = Annotated[str | None, Query(alias="to", max_length=16, description="last month, YYYY-MM, inclusive")]


@router.get("/points", response_model=Page[PointsRead])
async def list_points(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    page: PageDep,
    customer_id: Annotated[uuid.UUID | None, Query(description="only this customer's rows")] = None,
    month: MonthQuery = None,
    month_from: FromQuery = None,
    month_to: ToQuery = None,
) -> Page[PointsRead]:
    """Ledger rows, newest month first then by customer; cursor pagination."""
    return await service.list_points(
        session, page, customer_id=customer_id, month=month, month_from=month_from, month_to=month_to
    )


@router.get("/customers/{customer_id:uuid}/points", response_model=CustomerPoints)
async def customer_points(
    customer_id: uuid.UUID, session: ReadSessionDep, principal: Annotated[Principal, allow(READ)]
) -> CustomerPoints:
    """A customer's points per month, newest first, and their total. 404 for a customer the scoring service
    has never heard of."""
    return await service.customer_points(session, customer_id)
