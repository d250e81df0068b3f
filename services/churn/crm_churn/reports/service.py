"""Report rules (DOMAIN.md 3): churn rate = churned in period / active at period start (customers and
revenue); reason distribution per taxonomy; profit lost = sum over lost customers of revenue x margin
(with revenue per customer, and the lost CLV); the justified retention budget = the profit retention
would save, a ceiling spending must stay under."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.errors import FieldError, Unprocessable

from . import ledger, repository, totals
from .schemas import (
    BudgetFilters,
    ChurnRateFilters,
    ChurnRateReport,
    ProfitLostReport,
    ProfitPoint,
    RatePoint,
    ReasonReport,
    ReasonShare,
    ReportFilters,
    RetentionBudget,
    TaxonomyDistribution,
)

MAX_PERIODS = 120  # ten years of months
_RATE = Decimal("0.000001")
_CENT = Decimal("0.01")


def month_start(d: date, months: int = 0) -> date:
    n = d.year * 12 + d.month - 1 + months
    return date(n // 12, n % 12 + 1, 1)


def _instant(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def span(filters: ReportFilters) -> tuple[date, date]:
    """The report's [from, to): default the 12 months up to the current month's end; 422 naming `to`
    when it does not come after `from`, or the span is over ten years."""
    to = filters.to or month_start(datetime.now(UTC).date(), 1)
    from_ = filters.from_ or month_start(to, -12)
    if from_ >= to:
        raise Unprocessable("`from` must be before `to`", errors=[FieldError("must be after `from`", parameter="to")])
    if month_start(from_, MAX_PERIODS) < to:
        raise Unprocessable(
            "the period is too long", errors=[FieldError("at most 10 years after `from`", parameter="to")]
        )
    return from_, to


def periods(from_: date, to: date, months: int) -> list[tuple[date, date]]:
    """Calendar months or quarters covering [from, to)."""
    start = month_start(from_)
    if months == 3:
        start = date(start.year, (start.month - 1) // 3 * 3 + 1, 1)
    out = []
    while start < to:
        end = month_start(start, months)
        out.append((start, end))
        start = end
    return out


def _share(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(_RATE) if whole else None


def _dims(filters: ReportFilters) -> dict[str, Any]:
    return filters.model_dump(exclude={"from_", "to", "granularity", "saved_share"})


async def churn_rate(session: AsyncSession, filters: ChurnRateFilters) -> ChurnRateReport:
    from_, to = span(filters)
    dims = _dims(filters)
    series = []
    spans = periods(from_, to, 3 if filters.granularity == "quarter" else 1)
    actives = await ledger.active_series(session, [s for s, _ in spans], dims)
    # Periods are whole calendar months: one grouped query, its months summed into each period.
    by_month = await totals.churned_by_month(session, _instant(spans[0][0]), _instant(spans[-1][1]), dims)
    for start, end in spans:
        active = actives[start]
        churned = repository.total(c for m, c in by_month.items() if start <= m < end)
        series.append(
            RatePoint(
                period_start=start,
                period_end=end,
                active_at_start=active.count,
                churned=churned.count,
                rate=_share(churned.count, active.count),
                revenue_at_start=active.revenue,
                revenue_churned=churned.revenue,
                revenue_rate=_share(churned.revenue, active.revenue),
            )
        )
    return ChurnRateReport(granularity=filters.granularity, series=series)


async def reasons(session: AsyncSession, filters: ReportFilters) -> ReasonReport:
    """Every figure from the period's records counted per reason set (one scan): a reason's count sums the
    sets citing it; a taxonomy classifies a record when its set holds a reason of that taxonomy."""
    from_, to = span(filters)
    sets = await totals.reason_sets(session, _instant(from_), _instant(to), _dims(filters))
    known = await repository.reasons_by_key(session, (k for keys, _ in sets for k in keys))
    total = sum(n for _, n in sets)
    counts: Counter[str] = Counter()
    classified: Counter[str] = Counter()
    for keys, n in sets:
        for k in keys:
            counts[k] += n
        cited = [known[k] for k in keys]
        classified.update({t: n for t in {taxonomy for taxonomy, _, _ in cited}})
        if cited:
            classified["controllable" if any(c for _, _, c in cited) else "uncontrollable_only"] += n
    ranked = sorted(counts.items(), key=lambda kn: (-kn[1], kn[0]))
    taxonomies = [
        TaxonomyDistribution(
            taxonomy=taxonomy,
            classified=classified[taxonomy],
            unclassified=total - classified[taxonomy],
            reasons=[
                ReasonShare(key=k, label=known[k][1], controllable=known[k][2], count=n, share=_share(n, total))
                for k, n in ranked
                if known[k][0] == taxonomy
            ],
        )
        for taxonomy in ("cause", "recoverability")
    ]
    return ReasonReport(
        period_start=from_,
        period_end=to,
        records=total,
        controllable=classified["controllable"],
        uncontrollable_only=classified["uncontrollable_only"],
        taxonomies=taxonomies,
    )


async def _profit_point(session: AsyncSession, start: date, end: date, dims: dict[str, Any]) -> ProfitPoint:
    lost = await totals.churned(session, _instant(start), _instant(end), dims, lost_only=True)
    return _profit(start, end, lost)


def _profit(start: date, end: date, lost: repository.Churned) -> ProfitPoint:
    per_customer = (lost.revenue / lost.count).quantize(_CENT) if lost.count else None
    return ProfitPoint(
        period_start=start,
        period_end=end,
        lost_customers=lost.count,
        revenue_lost=lost.revenue,
        revenue_per_customer=per_customer,
        profit_lost=lost.profit,
        clv_lost=lost.clv,
    )


async def profit_lost(session: AsyncSession, filters: ReportFilters) -> ProfitLostReport:
    from_, to = span(filters)
    dims = _dims(filters)
    months = periods(from_, to, 1)  # calendar months: one grouped query for all of them
    by_month = await totals.churned_by_month(
        session, _instant(months[0][0]), _instant(months[-1][1]), dims, lost_only=True
    )
    series = [_profit(s, e, by_month.get(s) or repository.total(())) for s, e in months]
    # Its own sum, not the months': profit is rounded once, on the exact total (kept totals when they answer).
    total = await _profit_point(session, from_, to, dims)
    return ProfitLostReport(period_start=from_, period_end=to, total=total, series=series)


async def retention_budget(session: AsyncSession, filters: BudgetFilters) -> RetentionBudget:
    from_, to = span(filters)
    lost = await _profit_point(session, from_, to, _dims(filters))
    ceiling = (lost.profit_lost * filters.saved_share).quantize(_CENT)
    return RetentionBudget(
        period_start=from_,
        period_end=to,
        lost_customers=lost.lost_customers,
        profit_lost=lost.profit_lost,
        saved_share=filters.saved_share,
        budget_ceiling=ceiling,
        per_customer_ceiling=(ceiling / lost.lost_customers).quantize(_CENT) if lost.lost_customers else None,
        rule="retention spending is justified only while it costs less than the profit it saves",
    )
