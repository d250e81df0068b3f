"""Complaint reports managers chart: complaints opened per day, first-contact resolution, overdue
complaints and repeat complainants. Report days are UTC days; `to` is inclusive."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.errors import FieldError, Unprocessable

from . import repository
from .models import SEVERITIES
from .schemas import (
    DailyPoint,
    DailyReport,
    FirstContactResolutionReport,
    OverdueItem,
    OverdueReport,
    RepeatComplainant,
    RepeatComplainantsReport,
)
from .service import check_range, to_read

MAX_DAILY_DAYS = 366


def _window(day_from: date | None, day_to: date | None, *, default_days: int) -> tuple[date, date, datetime, datetime]:
    day_to = day_to or datetime.now(UTC).date()
    day_from = day_from or day_to - timedelta(days=default_days - 1)
    check_range(day_from, day_to, ("from", "to"))
    start = datetime.combine(day_from, time.min, tzinfo=UTC)
    end = datetime.combine(day_to + timedelta(days=1), time.min, tzinfo=UTC)
    return day_from, day_to, start, end


async def daily_report(session: AsyncSession, *, day_from: date | None, day_to: date | None, by: str) -> DailyReport:
    day_from, day_to, start, end = _window(day_from, day_to, default_days=30)
    if (day_to - day_from).days + 1 > MAX_DAILY_DAYS:
        raise Unprocessable(
            f"the window is longer than {MAX_DAILY_DAYS} days",
            errors=[FieldError(detail=f"at most {MAX_DAILY_DAYS} days after from, inclusive", parameter="to")],
        )
    groups = list(SEVERITIES) if by == "severity" else await repository.report_categories(session, start, end)
    rows = await repository.daily_counts(
        session, day_from=day_from, day_to=day_to, start=start, end=end, by=by, groups=groups
    )
    points = [DailyPoint(day=day, group=group, count=count) for day, group, count in rows]
    return DailyReport(from_=day_from, to=day_to, by=by, groups=groups, points=points)  # type: ignore[arg-type]


async def first_contact_resolution_report(
    session: AsyncSession, *, day_from: date | None, day_to: date | None
) -> FirstContactResolutionReport:
    day_from, day_to, start, end = _window(day_from, day_to, default_days=30)
    resolved, first = await repository.first_contact_resolution(session, start, end)
    rate = round(first / resolved, 4) if resolved else None
    return FirstContactResolutionReport(from_=day_from, to=day_to, resolved=resolved, first_contact=first, rate=rate)


async def overdue_report(session: AsyncSession, *, limit: int) -> OverdueReport:
    now = datetime.now(UTC)
    total, rows = await repository.overdue(session, now, limit)
    items = [
        OverdueItem(
            **to_read(c).model_dump(include=set(OverdueItem.model_fields) - {"hours_overdue"}),
            hours_overdue=round((now - c.due_at).total_seconds() / 3600, 2),
        )
        for c in rows
    ]
    return OverdueReport(as_of=now, total=total, items=items)


async def repeat_complainants_report(
    session: AsyncSession, *, min_complaints: int, window_days: int, limit: int
) -> RepeatComplainantsReport:
    since = datetime.now(UTC) - timedelta(days=window_days)
    rows = await repository.repeat_complainants(session, since=since, min_complaints=min_complaints, limit=limit)
    return RepeatComplainantsReport(
        window_days=window_days,
        min_complaints=min_complaints,
        since=since,
        items=[RepeatComplainant(**r) for r in rows],
    )
