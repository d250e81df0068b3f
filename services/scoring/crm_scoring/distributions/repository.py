"""Chart queries: each chart is one set-based statement over customer_scores (aggregates, grouping sets,
width_bucket), never a loop over customers; only zero-filling and shares are done here."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import asyncpg
import numpy as np

from ..scores.models import STAGES
from ..scores.schemas import ABC_CLASSES
from ..value.abc import pareto_curve
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

# $1: stages (null = all), $2: ABC classes (null = all).
FILTER = "($1::text[] IS NULL OR stage = ANY($1::text[])) AND ($2::text[] IS NULL OR abc_class = ANY($2::text[]))"
SCORES = (1, 2, 3, 4, 5)


def _share(part: float | Decimal, whole: float | Decimal) -> float:
    return round(float(part) / float(whole), 6) if whole else 0.0


LIFECYCLE_SQL = f"SELECT stage, count(*) AS n FROM customer_scores WHERE {FILTER} GROUP BY stage"


async def lifecycle(
    conn: asyncpg.Connection, stages: Sequence[str] | None, classes: Sequence[str] | None
) -> LifecycleDistribution:
    rows = await conn.fetch(LIFECYCLE_SQL, stages, classes)
    counts = {r["stage"]: r["n"] for r in rows}
    total = sum(counts.values())
    return LifecycleDistribution(
        total=total,
        stages=[StageCount(stage=s, count=counts.get(s, 0), share=_share(counts.get(s, 0), total)) for s in STAGES],
    )


ABC_SQL = f"""
SELECT abc_class, count(*) AS n, sum(total_spend) AS revenue,
       count(*) FILTER (WHERE gold) AS gold, count(*) FILTER (WHERE drag) AS drag,
       string_agg(float8send(total_spend::float8), ''::bytea) AS spend
FROM customer_scores WHERE {FILTER}
GROUP BY abc_class
"""


async def abc(conn: asyncpg.Connection, stages: Sequence[str] | None, points: int) -> AbcDistribution:
    """Class totals and, from the same scan, every customer's spend as packed big-endian doubles (8 bytes
    each: a million customers travel as 8 MB and unpack without a Python object per customer)."""
    rows = {r["abc_class"]: r for r in await conn.fetch(ABC_SQL, stages, None)}
    total = sum(r["n"] for r in rows.values())
    revenue = sum((r["revenue"] for r in rows.values()), Decimal("0.00"))
    spend = np.concatenate([np.frombuffer(r["spend"], dtype=">f8") for r in rows.values()] or [np.empty(0)])
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
    curve = [ParetoPoint(customer_share=x, revenue_share=y) for x, y in pareto_curve(spend, points)]
    unclassified = rows[None]["n"] if None in rows else 0
    return AbcDistribution(total=total, revenue=revenue, classes=classes, unclassified=unclassified, pareto=curve)


RFM_SQL = f"""
SELECT grouping(r, f) AS by_segment, r, f, rfm_segment, count(*) AS n, avg(m)::float8 AS mean_m
FROM customer_scores WHERE {FILTER}
GROUP BY GROUPING SETS ((r, f), (rfm_segment))
"""


async def rfm(
    conn: asyncpg.Connection, stages: Sequence[str] | None, classes: Sequence[str] | None, segment_order: Sequence[str]
) -> RfmDistribution:
    """Grid cells and segment counts from one scan (grouping sets)."""
    rows = await conn.fetch(RFM_SQL, stages, classes)
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


# Bins span [least(min CLV, 0), max] with edges rounded to the cent, so the edges shown are exactly the
# ones counted against (width_bucket on the edge array), each bin at least a cent wide. The default max is
# the 99th percentile as percentile_cont computes it (linear interpolation), but read as the two order
# statistics around it from the top of the (clv, customer_id) index instead of sorting every CLV.
CLV_SQL = f"""
WITH stats AS (
    SELECT count(clv) AS scored, count(*) - count(clv) AS unscored, least(coalesce(min(clv), 0), 0) AS lo,
           0.99 * (count(clv) - 1) AS at
    FROM customer_scores WHERE {FILTER}
),
around AS (
    SELECT array_agg(clv) AS v FROM (
        SELECT clv FROM customer_scores WHERE clv IS NOT NULL AND {FILTER}
        ORDER BY clv DESC
        OFFSET (SELECT greatest(scored - 1 - ceil(at), 0) FROM stats) LIMIT 2
    ) AS top
),
p99 AS (
    SELECT CASE WHEN at = floor(at) OR v[2] IS NULL THEN v[1] ELSE v[2] + (at - floor(at)) * (v[1] - v[2]) END AS value
    FROM stats, around
),
bounds AS (
    SELECT lo, greatest(coalesce($3::numeric, (SELECT ceil(value * 100) / 100 FROM p99), 0), lo + $4::int * 0.01) AS hi
    FROM stats
),
e AS (
    SELECT array_agg(round(lo + (hi - lo) * i / $4::int, 2) ORDER BY i) AS edges
    FROM bounds, generate_series(0, $4::int) AS i
),
b AS (  -- bucket $4 + 1: above max
    SELECT CASE WHEN clv > hi THEN $4::int + 1 ELSE least(width_bucket(clv, edges), $4::int) END AS bucket,
           count(*) AS n
    FROM customer_scores, bounds, e
    WHERE clv IS NOT NULL AND {FILTER}
    GROUP BY 1
)
SELECT e.edges, stats.scored, stats.unscored,
       coalesce((SELECT n FROM b WHERE bucket = $4::int + 1), 0) AS above_max,
       (SELECT array_agg(coalesce(b.n, 0) ORDER BY g) FROM generate_series(1, $4::int) AS g
        LEFT JOIN b ON b.bucket = g) AS counts
FROM e, stats
"""


async def clv(
    conn: asyncpg.Connection,
    stages: Sequence[str] | None,
    classes: Sequence[str] | None,
    bins: int,
    max_clv: Decimal | None,
) -> ClvHistogram:
    row = await conn.fetchrow(CLV_SQL, stages, classes, max_clv, bins)
    assert row is not None
    return ClvHistogram(
        edges=list(row["edges"]),
        counts=list(row["counts"]),
        max=row["edges"][-1],
        scored=row["scored"],
        above_max=row["above_max"],
        unscored=row["unscored"],
    )
