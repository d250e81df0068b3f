"""The win-back report from the kept month totals (table winback_month_totals, appended by the triggers of
migration 0007 on every write to winback_cases, folded by `compact`) plus a live count of the open cases past
their window (the sweep has not recorded them lost yet; the partial window index finds them), when the period
is open-ended or whole calendar months; otherwise from a scan of the closed cases (repository.report: the same
figures, and the test oracle of these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ..reports.totals import whole_month
from . import repository

_ENDED = "coalesce(closed_at, window_ends_at)"
# by -> (key of a kept row, key of a case); month and quarter keys are labelled as the scan labels them.
_KEYS = {
    "month": ("to_char(m, 'YYYY-MM-DD')", f"to_char(date_trunc('month', {_ENDED}), 'YYYY-MM-DD')"),
    "quarter": (
        "to_char(date_trunc('quarter', m::timestamp), 'YYYY-MM-DD')",
        f"to_char(date_trunc('quarter', {_ENDED}), 'YYYY-MM-DD')",
    ),
    "reason": ("value", "coalesce(primary_reason, 'unclassified')"),
    "strategy": ("value", "coalesce(strategy, 'none')"),
    "owner": ("value", "coalesce(owner, 'unassigned')"),
}
_REPORT = """
SELECT key, CAST(sum(n) AS bigint) AS closed, CAST(sum(won) AS bigint) AS won, sum(benefit) AS benefit,
       sum(cost) AS cost
FROM (
    SELECT {kept} AS key, sum(n) AS n, sum(won) AS won, sum(benefit) AS benefit, sum(cost) AS cost
    FROM winback_month_totals WHERE dim = :dim{kept_period} GROUP BY 1
    UNION ALL
    SELECT {live}, count(*), 0, 0, sum(cost) FROM winback_cases
    WHERE status IN ('analysis', 'implementation') AND window_ends_at < :now{live_period} GROUP BY 1
) AS t
GROUP BY key HAVING sum(n) <> 0 ORDER BY key"""
_COMPACT = text("""
WITH gone AS (DELETE FROM winback_month_totals RETURNING m, dim, value, n, won, benefit, cost)
INSERT INTO winback_month_totals (m, dim, value, n, won, benefit, cost)
SELECT m, dim, value, sum(n), sum(won), sum(benefit), sum(cost) FROM gone
GROUP BY m, dim, value
HAVING sum(n) <> 0 OR sum(won) <> 0 OR sum(benefit) <> 0 OR sum(cost) <> 0
""")


async def report(
    session: AsyncSession, by: str, from_: datetime | None, to: datetime | None, now: datetime
) -> list[Any]:
    """repository.report, from the kept totals when the period allows."""
    first, last = (None if t is None else whole_month(t) for t in (from_, to))
    if (from_ is not None and first is None) or (to is not None and last is None):
        return await repository.report(session, by, from_, to, now)
    kept_period = live_period = ""
    params: dict[str, Any] = {"dim": by if by in ("reason", "strategy", "owner") else "", "now": now}
    if first is not None:
        kept_period, live_period = " AND m >= :first", f" AND {_ENDED} >= :from_"
        params |= {"first": first, "from_": from_}
    if last is not None:
        kept_period, live_period = kept_period + " AND m < :last", live_period + f" AND {_ENDED} < :to"
        params |= {"last": last, "to": to}
    kept, live = _KEYS[by]
    sql = _REPORT.format(kept=kept, live=live, kept_period=kept_period, live_period=live_period)
    return list(await session.execute(text(sql), params))


async def compact(session: AsyncSession) -> bool:
    """Fold the appended deltas into one row per month and key (skipped while another replica does)."""
    if not (await session.execute(text("SELECT pg_try_advisory_xact_lock(1818584165, 7)"))).scalar_one():
        return False
    await session.execute(_COMPACT)
    return True
