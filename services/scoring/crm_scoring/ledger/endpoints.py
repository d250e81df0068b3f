"""Points-ledger endpoints: the monthly membership points the batch job records, per month or customer."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep
from crm_shared.errors import NotFound
from crm_shared.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page, decode_cursor, encode_cursor

from . import repository
from .schemas import CustomerPoints, PointsRead, check_months, parse_month

router = APIRouter(prefix="/api/v1/scores", tags=["points"])
READ = "scores:read"
MonthQuery = Annotated[str | None, Query(max_length=16, examples=["2026-11"], description="one month, YYYY-MM")]
FromQuery = Annotated[str | None, Query(alias="from", max_length=16, description="first month, YYYY-MM, inclusive")]
ToQuery = Annotated[str | None, Query(alias="to", max_length=16, description="last month, YYYY-MM, inclusive")]


@router.get("/points", response_model=Page[PointsRead])
async def list_points(
    request: Request,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    customer_id: Annotated[uuid.UUID | None, Query(description="only this customer's rows")] = None,
    month: MonthQuery = None,
    month_from: FromQuery = None,
    month_to: ToQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Page[PointsRead]:
    """Ledger rows, newest month first then by customer; cursor pagination."""
    one = parse_month(month, "month")
    start, end = parse_month(month_from, "from"), parse_month(month_to, "to")
    check_months(one, start, end)
    if one is not None:
        start = end = one
    secret = request.app.state.settings.cursor_secret.get_secret_value()
    binding = {"list": "points", "customer_id": customer_id, "from": start, "to": end}
    after = None
    if cursor:
        after = decode_cursor(cursor, binding, secret, shape=(date, uuid.UUID))
    rows = await repository.page(session, customer_id=customer_id, start=start, end=end, after=after, limit=limit)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].month.isoformat(), str(rows[-1].customer_id)], binding, secret)
    return Page[PointsRead](items=[PointsRead.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/customers/{customer_id:uuid}/points", response_model=CustomerPoints)
async def customer_points(
    customer_id: uuid.UUID, session: ReadSessionDep, principal: Annotated[Principal, allow(READ)]
) -> CustomerPoints:
    """A customer's points per month, newest first, and their total. 404 for a customer the scoring service
    has never heard of."""
    rows = await repository.customer_rows(session, customer_id)
    if not rows and not await repository.is_known(session, customer_id):
        raise NotFound(f"no customer with id {customer_id} is known to the scoring service")
    return CustomerPoints(
        customer_id=customer_id,
        total=sum((r.points for r in rows), Decimal("0.00")),
        months=len(rows),
        items=[PointsRead.model_validate(r) for r in rows],
    )
