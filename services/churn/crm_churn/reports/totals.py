"""The churned of a period, and its records per reason set, from the kept month totals (table
churn_month_totals, appended by the triggers of migration 0006 on every write to churn_records, folded by
`compact`) when the report has at most one filter and whole calendar months; otherwise from a scan of the
period's records (repository.churned*, repository.reason_sets: the same figures, and the test oracle of
these)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from . import repository
from .repository import Churned

FILTERS = (*repository.DIMENSIONS, "reason")

_SUMS = """
    SELECT {group} sum(n), sum(revenue), sum(profit), sum(clv) FROM churn_month_totals
    WHERE dim = :dim AND value = :value AND m >= :start AND m < :end{lost}"""
_SETS = """
    SELECT reason_keys, sum(n) FROM churn_month_totals
    WHERE dim = :dim AND value = :value AND m >= :start AND m < :end
    GROUP BY reason_keys HAVING sum(n) <> 0"""
_COMPACT = text("""
WITH gone AS (
    DELETE FROM churn_month_totals RETURNING m, dim, value, won_back, reason_keys, n, revenue, profit, clv
)
INSERT INTO churn_month_totals (m, dim, value, won_back, reason_keys, n, revenue, profit, clv)
SELECT m, dim, value, won_back, reason_keys, sum(n), sum(revenue), sum(profit), sum(clv) FROM gone
GROUP BY m, dim, value, won_back, reason_keys
HAVING sum(n) <> 0 OR sum(revenue) <> 0 OR sum(profit) <> 0 OR sum(clv) <> 0
""")


def kept_filter(filters: dict[str, Any]) -> tuple[str, str] | None:
    """The (dim, value) of the kept totals answering these filters: ('', '') for none, the one filter given,
    or None when more than one is given (the totals are kept per single filter)."""
    given = [(name, str(filters[name])) for name in FILTERS if filters.get(name) is not None]
    if len(given) > 1:
        return None
    return given[0] if given else ("", "")


def whole_month(t: datetime) -> date | None:
    """t's day when t is the start of a calendar month (UTC), else None: where kept month totals can answer."""
    u = t.astimezone(UTC)
    return u.date() if (u.day, u.hour, u.minute, u.second, u.microsecond) == (1, 0, 0, 0, 0) else None


async def churned_by_month(
    session: AsyncSession, start: datetime, end: datetime, filters: dict[str, Any], *, lost_only: bool = False
) -> dict[date, Churned]:
    """repository.churned_by_month, from the kept totals when they can answer."""
    kept, first, last = kept_filter(filters), whole_month(start), whole_month(end)
    if kept is None or first is None or last is None:
        return await repository.churned_by_month(session, start, end, filters, lost_only=lost_only)
    sql = _SUMS.format(group="m,", lost=" AND NOT won_back" if lost_only else "") + " GROUP BY m HAVING sum(n) <> 0"
    rows = await session.execute(text(sql), {"dim": kept[0], "value": kept[1], "start": first, "end": last})
    return {row[0]: repository.figures(row[1:]) for row in rows}


async def churned(
    session: AsyncSession, start: datetime, end: datetime, filters: dict[str, Any], *, lost_only: bool = False
) -> Churned:
    """repository.churned, from the kept totals when they can answer."""
    kept, first, last = kept_filter(filters), whole_month(start), whole_month(end)
    if kept is None or first is None or last is None:
        return await repository.churned(session, start, end, filters, lost_only=lost_only)
    sql = _SUMS.format(group="", lost=" AND NOT won_back" if lost_only else "")
    row = (await session.execute(text(sql), {"dim": kept[0], "value": kept[1], "start": first, "end": last})).one()
    return repository.figures(row) if row[0] else repository.total(())


async def reason_sets(
    session: AsyncSession, start: datetime, end: datetime, filters: dict[str, Any]
) -> list[tuple[tuple[str, ...], int]]:
    """repository.reason_sets, from the kept totals when they can answer."""
    kept, first, last = kept_filter(filters), whole_month(start), whole_month(end)
    if kept is None or first is None or last is None:
        return await repository.reason_sets(session, start, end, filters)
    rows = await session.execute(text(_SETS), {"dim": kept[0], "value": kept[1], "start": first, "end": last})
    return [(tuple(keys), int(n)) for keys, n in rows]


async def compact(session: AsyncSession) -> None:
    """Fold the appended deltas into one row per month, filter, won_back and reason set (the caller holds the
    reports' compaction lock)."""
    await session.execute(_COMPACT)
