"""Charts from the queries' aggregates: every stage, class and grid cell shown (zero-filled) in its fixed
order, with shares; RFM segments in the order of the rule set in force, unknown ones after by size."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from ..rules.repository import load_rules
from ..scores.models import STAGES
from ..scores.schemas import ABC_CLASSES
from . import repository
from .estimates import Bucketed, cents_up, pareto
from .schemas import (
    AbcClassStats,
    AbcDistribution,
    ClvHistogram,
    LifecycleDistribution,
    ParetoPoint,
    RfmCell,
    RfmDistribution,
    SegmentCount,
    StageCount,
)

SCORES = (1, 2, 3, 4, 5)
ZERO, CENT, P99 = Decimal("0.00"), Decimal("0.01"), Decimal("0.99")


def _share(part: float | Decimal, whole: float | Decimal) -> float:
    return round(float(part) / float(whole), 6) if whole else 0.0


async def lifecycle(session: AsyncSession, classes: Sequence[str] | None) -> LifecycleDistribution:
    counts = await repository.stage_counts(session, None, classes)
    total = sum(counts.values())
    return LifecycleDistribution(
        total=total,
        stages=[StageCount(stage=s, count=counts.get(s, 0), share=_share(counts.get(s, 0), total)) for s in STAGES],
    )


async def abc(session: AsyncSession, stages: Sequence[str] | None, points: int) -> AbcDistribution:
    rows = await repository.abc_classes(session, stages)
    total = sum(r["n"] for r in rows.values())
    revenue = sum((r["revenue"] for r in rows.values()), Decimal("0.00"))
    classes = []
    for name in ABC_CLASSES:
        r = rows.get(name)
        n, rev = (r["n"], r["revenue"]) if r else (0, Decimal("0.00"))
        classes.append(
            AbcClassStats(
                abc_class=name,
                count=n,
                share=_share(n, total),
                revenue=rev,
                revenue_share=_share(rev, revenue),
                gold=r["gold"] if r else 0,
                drag=r["drag"] if r else 0,
            )
        )
    spend = Bucketed.of(await repository.bucket_counts(session, "spend", stages, None))
    curve = [ParetoPoint(customer_share=x, revenue_share=y) for x, y in pareto(spend, points)]
    unclassified = rows[None]["n"] if None in rows else 0
    return AbcDistribution(total=total, revenue=revenue, classes=classes, unclassified=unclassified, pareto=curve)


async def rfm(session: AsyncSession, stages: Sequence[str] | None, classes: Sequence[str] | None) -> RfmDistribution:
    rules = await load_rules(session)
    segment_order = [s.name for s in rules.rfm_segments.segments]
    rows = await repository.rfm_groups(session, stages, classes)
    grid = {(r["r"], r["f"]): r for r in rows if not r["by_segment"]}
    cells = []
    for ri in SCORES:
        for fi in SCORES:
            cell = grid.get((ri, fi))
            mean = None if cell is None else round(cell["mean_m"], 4)
            cells.append(RfmCell(r=ri, f=fi, count=cell["n"] if cell else 0, mean_m=mean))
    scored = sum(c.count for c in cells)
    by_segment: dict[str | None, int] = {}
    for r in rows:
        if r["by_segment"]:
            name = r["rfm_segment"] or None  # "" and null both mean not scored
            by_segment[name] = by_segment.get(name, 0) + r["n"]
    others = sorted((k for k in by_segment if k is not None and k not in segment_order), key=lambda k: -by_segment[k])
    names: list[str | None] = [*segment_order, *others]
    if None in by_segment:
        names.append(None)
    return RfmDistribution(
        scored=scored,
        unscored=sum(r["n"] for r in grid.values()) - scored,
        cells=cells,
        segments=[SegmentCount(segment=k, count=by_segment.get(k, 0)) for k in names],
    )


async def clv(
    session: AsyncSession,
    stages: Sequence[str] | None,
    classes: Sequence[str] | None,
    bins: int,
    max_clv: Decimal | None,
) -> ClvHistogram:
    rows = await repository.bucket_counts(session, "clv", stages, classes)
    values = Bucketed.of(rows)
    negative = any(r["bucket"] is not None and r["bucket"] < 0 for r in rows)
    lo = min(await repository.least_clv(session, stages, classes), ZERO) if negative else ZERO
    if max_clv is None:
        p99 = values.percentile(P99)
        max_clv = ZERO if p99 is None else cents_up(p99)
    hi = max(max_clv, lo + bins * CENT)
    # Edges rounded to the cent (half away from zero, as PostgreSQL's round), each bin at least a cent wide.
    edges = [(lo + (hi - lo) * i / bins).quantize(CENT, ROUND_HALF_UP) for i in range(bins + 1)]
    # customers below each inner edge, and at or below the last (the last bin is closed); none below the first
    below = [0, *(values.count_below(float(e)) for e in edges[1:-1]), values.count_below(float(hi), inclusive=True)]
    return ClvHistogram(
        edges=edges,
        counts=[b - a for a, b in itertools.pairwise(below)],
        max=edges[-1],
        scored=values.valued,
        above_max=values.valued - below[-1],
        unscored=values.unvalued,
    )
