"""Complaint report endpoints: the charts managers read. Thin handlers; the rules live in reports.py."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.bounds import Day
from crm_shared.db import ReadSessionDep
from crm_shared.pagination import DEFAULT_LIMIT, LimitQuery

from . import reports
from .endpoints import BASE, READ
from .schemas import DailyReport, FirstContactResolutionReport, OverdueReport, RepeatComplainantsReport

router = APIRouter(prefix="/api/v1", tags=["complaints"])
FromQuery = Annotated[Day | None, Query(alias="from", description="first UTC day; default 29 days before `to`")]
ToQuery = Annotated[Day | None, Query(alias="to", description="last UTC day, inclusive; default today")]


@router.get(f"{BASE}/reports/daily", response_model=DailyReport)
async def daily_report(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    day_from: FromQuery = None,
    day_to: ToQuery = None,
    by: Literal["category", "severity"] = "category",
) -> DailyReport:
    """Complaints opened per day and category (or severity), zero-filled; at most 366 days."""
    return await reports.daily_report(session, day_from=day_from, day_to=day_to, by=by)


@router.get(f"{BASE}/reports/first-contact-resolution", response_model=FirstContactResolutionReport)
async def first_contact_resolution_report(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    day_from: FromQuery = None,
    day_to: ToQuery = None,
) -> FirstContactResolutionReport:
    """Share of the complaints resolved in the window that were resolved at the first contact."""
    return await reports.first_contact_resolution_report(session, day_from=day_from, day_to=day_to)


@router.get(f"{BASE}/reports/overdue", response_model=OverdueReport)
async def overdue_report(
    session: ReadSessionDep, principal: Annotated[Principal, allow(READ)], limit: LimitQuery = DEFAULT_LIMIT
) -> OverdueReport:
    """Open and in-progress complaints past their due date, most overdue first."""
    return await reports.overdue_report(session, limit=limit)


@router.get(f"{BASE}/reports/repeat-complainants", response_model=RepeatComplainantsReport)
async def repeat_complainants_report(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    min_complaints: Annotated[int, Query(ge=1, le=1000)] = 2,
    window_days: Annotated[int, Query(ge=1, le=3660)] = 90,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> RepeatComplainantsReport:
    """Customers with at least `min_complaints` complaints opened in the last `window_days` days."""
    return await reports.repeat_complainants_report(
        session, min_complaints=min_complaints, window_days=window_days, limit=limit
    )
