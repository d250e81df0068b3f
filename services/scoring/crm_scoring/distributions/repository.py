"""Chart queries: each chart sums rows of the score cells (cells.py) or the score buckets (buckets.py), a few
hundred to a few thousand rows whatever the number of customers; service.py zero-fills, takes shares and
estimates from the buckets (estimates.py)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.db import driver_connection

from ..scores.models import CODES

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
SELECT abc_class, sum(n)::bigint AS n, sum(revenue) AS revenue,
       coalesce(sum(n) FILTER (WHERE gold), 0)::bigint AS gold, coalesce(sum(n) FILTER (WHERE drag), 0)::bigint AS drag
FROM score_cells WHERE {FILTER}
GROUP BY abc_class HAVING sum(n) > 0
"""


async def abc_classes(session: AsyncSession, stages: Sequence[str] | None) -> dict[str | None, asyncpg.Record]:
    """Per ABC class (None: not classified yet): count, revenue, gold and drag, from the score cells."""
    rows = await (await driver_connection(session)).fetch(ABC_SQL, stages, None)
    return {r["abc_class"]: r for r in rows}


# The Pareto curve and the CLV histogram read the score buckets (buckets.py: a few hundred rows a stage).
BUCKETS_SQL = f"""
SELECT bucket, sum(n)::bigint AS n, sum(total) AS total, sum(squares) AS squares FROM score_buckets
WHERE measure = $3 AND {FILTER}
GROUP BY bucket HAVING sum(n) <> 0 ORDER BY bucket
"""


async def bucket_counts(
    session: AsyncSession, measure: str, stages: Sequence[str] | None, classes: Sequence[str] | None
) -> list[asyncpg.Record]:
    """(bucket, n, total, squares) of one measure, in bucket order, the null bucket (no value) last."""
    return await (await driver_connection(session)).fetch(BUCKETS_SQL, stages, classes, measure)


async def least_clv(session: AsyncSession, stages: Sequence[str] | None, classes: Sequence[str] | None) -> Decimal:
    """The lowest CLV, exact (read from the bottom of the CLV index: asked only when some CLV is negative)."""
    sql = (
        "SELECT min(clv) FROM customer_scores WHERE ($1::int2[] IS NULL OR stage_code = ANY($1::int2[])) "
        "AND ($2::int2[] IS NULL OR abc_code = ANY($2::int2[]))"
    )
    stage_codes = None if stages is None else [CODES["stage"][1][s] for s in stages]
    class_codes = None if classes is None else [CODES["abc_class"][1][c] for c in classes]
    value = await (await driver_connection(session)).fetchval(sql, stage_codes, class_codes)
    assert value is not None
    return Decimal(value)


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
