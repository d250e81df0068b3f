"""The report queries: churned records of a period and the customers active at its start, under the same
filters (ABC class, stage, segment, region, channel: the record's value at churn for the churned, the
read model's current value for the active; a reason filter narrows only the churned)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# filter -> (record column, read-model column)
DIMENSIONS = {
    "abc_class": ("c.abc_class", "v.abc_class"),
    "stage": ("c.stage", "v.stage"),
    "segment": ("c.segment", "v.rfm_segment"),
    "region": ("c.region", "v.region"),
    "channel": ("c.channel", "v.last_order_channel"),
}


@dataclass(frozen=True)
class Churned:
    count: int
    revenue: Decimal
    profit: Decimal
    clv: Decimal


@dataclass(frozen=True)
class Active:
    count: int
    revenue: Decimal  # their orders in the 12 months before the start


def _where(filters: dict[str, Any], side: int) -> tuple[str, dict[str, Any]]:
    sql, params = [], {}
    for name, columns in DIMENSIONS.items():
        if filters.get(name) is not None:
            sql.append(f"{columns[side]} = :f_{name}")
            params[f"f_{name}"] = filters[name]
    return "".join(f" AND {s}" for s in sql), params


def _churned_where(filters: dict[str, Any], lost_only: bool) -> tuple[str, dict[str, Any]]:
    where, params = _where(filters, 0)
    if filters.get("reason") is not None:
        where += " AND CAST(:f_reason AS varchar) = ANY(c.reason_keys)"
        params["f_reason"] = filters["reason"]
    if lost_only:
        where += " AND c.status <> 'won_back'"
    return where, params


_CHURNED = """
    SELECT {group} count(*), coalesce(sum(c.revenue_12m), 0), coalesce(sum(c.revenue_12m * c.margin), 0),
           coalesce(sum(c.clv), 0)
    FROM churn_records c
    WHERE c.folded_into IS NULL AND c.detected_at >= :start AND c.detected_at < :end{where}"""
_MONTH = "(date_trunc('month', c.detected_at AT TIME ZONE 'UTC'))::date"


def total(parts: Iterable[Churned]) -> Churned:
    """The figures of several periods together (months summed into a quarter)."""
    out = Churned(0, Decimal(0), Decimal("0.00"), Decimal(0))
    for p in parts:
        out = Churned(out.count + p.count, out.revenue + p.revenue, out.profit + p.profit, out.clv + p.clv)
    return out


def figures(row: Sequence[Any]) -> Churned:
    return Churned(int(row[0]), Decimal(row[1]), Decimal(row[2]).quantize(Decimal("0.01")), Decimal(row[3]))


async def churned(
    session: AsyncSession, start: datetime, end: datetime, filters: dict[str, Any], *, lost_only: bool = False
) -> Churned:
    """Records detected in [start, end); lost_only: leave out those won back (the profit really lost)."""
    where, params = _churned_where(filters, lost_only)
    sql = _CHURNED.format(group="", where=where)
    return figures((await session.execute(text(sql), {"start": start, "end": end, **params})).one())


async def churned_by_month(
    session: AsyncSession, start: datetime, end: datetime, filters: dict[str, Any], *, lost_only: bool = False
) -> dict[date, Churned]:
    """`churned` of each calendar month (UTC) in [start, end) with records, in one query (months start at
    `start` and end at `end` when these are month starts)."""
    where, params = _churned_where(filters, lost_only)
    sql = _CHURNED.format(group=f"{_MONTH},", where=where) + f" GROUP BY {_MONTH}"
    rows = await session.execute(text(sql), {"start": start, "end": end, **params})
    return {row[0]: figures(row[1:]) for row in rows}


async def active_at(session: AsyncSession, start: datetime, filters: dict[str, Any]) -> Active:
    """Customers known before `start`, not merged away, and not churned at `start` (no record detected
    before it that was still open then), with their revenue of the 12 months before it."""
    where, params = _where(filters, 1)
    sql = f"""
        SELECT count(*), coalesce(sum(o.revenue), 0)
        FROM customer_values v
        LEFT JOIN LATERAL (
            SELECT sum(amount) AS revenue FROM customer_orders o
            WHERE o.customer_id = v.customer_id
              AND o.ordered_at >= CAST(:start AS timestamptz) - interval '365 days' AND o.ordered_at < :start
        ) o ON true
        WHERE v.merged_into IS NULL AND v.since < :start{where}
          AND NOT EXISTS (
            SELECT 1 FROM churn_records c
            WHERE c.customer_id = v.customer_id AND c.folded_into IS NULL AND c.detected_at < :start
              AND (c.won_back_at IS NULL OR c.won_back_at >= :start))"""
    row = (await session.execute(text(sql), {"start": start, **params})).one()
    return Active(row[0], Decimal(row[1]))


async def reason_sets(
    session: AsyncSession, start: datetime, end: datetime, filters: dict[str, Any]
) -> list[tuple[tuple[str, ...], int]]:
    """The period's records counted per reason set (their sorted `reason_keys`; () for none): one scan of
    the records, a few dozen rows out, from which every figure of the reasons report follows."""
    where, params = _churned_where(filters, False)
    sql = f"""
        SELECT c.reason_keys, count(*) FROM churn_records c
        WHERE c.folded_into IS NULL AND c.detected_at >= :start AND c.detected_at < :end{where}
        GROUP BY c.reason_keys"""
    rows = await session.execute(text(sql), {"start": start, "end": end, **params})
    return [(tuple(keys), int(n)) for keys, n in rows]


async def reasons_by_key(session: AsyncSession, keys: Iterable[str]) -> dict[str, tuple[str, str, bool]]:
    """key -> (taxonomy, label, controllable) of these reasons (retired ones included)."""
    sql = "SELECT key, taxonomy, label, controllable FROM churn_reasons WHERE key = ANY(:keys)"
    rows = await session.execute(text(sql), {"keys": sorted(set(keys))})
    return {k: (t, lbl, bool(c)) for k, t, lbl, c in rows}


# Active customers and their revenue at every month start in one pass, as deltas bucketed by the first month
# start after the time they take effect (`_after`): a customer counts from after `since`; a churn record
# takes it out from after max(detected_at, since) until after its won_back_at; an order counts in revenue
# for month starts M with ordered_at < M <= ordered_at + 365 days, except while its customer is churned.
# Summing the buckets up to M gives the figures of `active_at(M)` (one query instead of one per period).
# The report now reads the maintained ledger (ledger.py, the same deltas kept per customer change); this
# full-scan query stays as its test oracle (tests/churn/test_rate_ledger.py).
_AFTER = "(date_trunc('month', ({t}) AT TIME ZONE 'UTC') + interval '1 month')::date"


def _after(t: str) -> str:
    return _AFTER.format(t=t)


_SERIES = f"""
WITH v AS (SELECT customer_id, since FROM customer_values v WHERE v.merged_into IS NULL{{where}}),
c AS (
    SELECT c.customer_id, greatest(c.detected_at, v.since) AS out_at,
           CASE WHEN c.won_back_at IS NOT NULL THEN greatest(c.won_back_at, c.detected_at, v.since) END AS back_at
    FROM churn_records c JOIN v USING (customer_id) WHERE c.folded_into IS NULL
),
vo AS (SELECT o.ordered_at, o.amount FROM customer_orders o JOIN v USING (customer_id)),
-- an order's revenue is out while its customer is churned: between a and b
p AS (
    SELECT o.amount, greatest(c.out_at, o.ordered_at) AS a,
           least(coalesce(c.back_at, 'infinity'), o.ordered_at + interval '365 days') AS b
    FROM c JOIN customer_orders o USING (customer_id)
),
deltas AS (
    SELECT {_after("since")} AS m, 1 AS n, 0::numeric AS revenue FROM v
    UNION ALL
    SELECT {_after("out_at")}, -1, 0 FROM c
    UNION ALL
    SELECT {_after("back_at")}, 1, 0 FROM c WHERE back_at IS NOT NULL
    UNION ALL
    SELECT {_after("o.ordered_at")}, 0, o.amount FROM vo o
    UNION ALL
    SELECT {_after("o.ordered_at + interval '365 days'")}, 0, -o.amount FROM vo o
    UNION ALL
    SELECT {_after("p.a")}, 0, -p.amount FROM p WHERE p.a < p.b
    UNION ALL
    SELECT {_after("p.b")}, 0, p.amount FROM p WHERE p.a < p.b
)
SELECT m, sum(n), sum(revenue) FROM deltas WHERE m <= :last GROUP BY m ORDER BY m
"""


async def active_series(session: AsyncSession, starts: list[date], filters: dict[str, Any]) -> dict[date, Active]:
    """`active_at` of each month start in `starts` (sorted), in one query."""
    where, params = _where(filters, 1)
    rows = list(await session.execute(text(_SERIES.format(where=where)), {"last": starts[-1], **params}))
    return accumulate(rows, starts)


def accumulate(rows: Sequence[Any], starts: list[date]) -> dict[date, Active]:
    """Running sums of (month, count delta, revenue delta) rows sorted by month, read at each start."""
    out, n, revenue, i = {}, 0, Decimal(0), 0
    for start in starts:
        while i < len(rows) and rows[i][0] <= start:
            n, revenue, i = n + int(rows[i][1]), revenue + Decimal(rows[i][2]), i + 1
        out[start] = Active(n, revenue)
    return out
