"""Chart queries: each chart is one set-based statement over the score cells (cells.py) or customer_scores
(aggregates, grouping sets, width_bucket), never a loop over customers; service.py zero-fills and takes
shares."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.db import driver_connection

# $1: stages (null = all), $2: ABC classes (null = all).
FILTER = "($1::text[] IS NULL OR stage = ANY($1::text[])) AND ($2::text[] IS NULL OR abc_class = ANY($2::text[]))"


# The funnel and the grid read the score cells (cells.py: a few thousand rows, kept exact by triggers).
LIFECYCLE_SQL = f"SELECT stage, sum(n)::bigint AS n FROM score_cells WHERE {FILTER} GROUP BY stage HAVING sum(n) > 0"


async def stage_counts(
    session: AsyncSession, stages: Sequence[str] | None, classes: Sequence[str] | None
) -> dict[str, int]:
    """Customers per stage (stages without any are absent)."""
    rows = await (await driver_connection(session)).fetch(LIFECYCLE_SQL, stages, classes)
    return {r["stage"]: r["n"] for r in rows}


ABC_SQL = f"""
SELECT abc_class, count(*) AS n, sum(total_spend) AS revenue,
       count(*) FILTER (WHERE gold) AS gold, count(*) FILTER (WHERE drag) AS drag,
       string_agg(float8send(total_spend::float8), ''::bytea) AS spend
FROM customer_scores WHERE {FILTER}
GROUP BY abc_class
"""


async def abc_classes(session: AsyncSession, stages: Sequence[str] | None) -> dict[str | None, asyncpg.Record]:
    """Per ABC class (None: not classified yet): count, revenue, gold, drag and, from the same scan, every
    customer's spend as packed big-endian doubles (8 bytes each: a million customers travel as 8 MB and
    unpack without a Python object per customer)."""
    rows = await (await driver_connection(session)).fetch(ABC_SQL, stages, None)
    return {r["abc_class"]: r for r in rows}


# mean_m divides as avg(m) does (numeric by numeric), so the means are those of a scan to the last digit.
RFM_SQL = f"""
SELECT grouping(r, f) AS by_segment, r, f, rfm_segment, sum(n)::bigint AS n,
       (sum(m_sum)::numeric / sum(n)::numeric)::float8 AS mean_m
FROM score_cells WHERE {FILTER}
GROUP BY GROUPING SETS ((r, f), (rfm_segment))
HAVING sum(n) > 0
"""


async def rfm_groups(
    session: AsyncSession, stages: Sequence[str] | None, classes: Sequence[str] | None
) -> list[asyncpg.Record]:
    """Grid cells (by_segment false: r, f, n, mean_m) and segment counts (by_segment true) from one scan."""
    return await (await driver_connection(session)).fetch(RFM_SQL, stages, classes)


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


async def clv_histogram(
    session: AsyncSession,
    stages: Sequence[str] | None,
    classes: Sequence[str] | None,
    bins: int,
    max_clv: Decimal | None,
) -> asyncpg.Record:
    """The bin edges and counts, with the customers above the last edge and those without a CLV."""
    row = await (await driver_connection(session)).fetchrow(CLV_SQL, stages, classes, max_clv, bins)
    assert row is not None
    return row
