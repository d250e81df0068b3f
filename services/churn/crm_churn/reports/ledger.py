"""The churn-rate ledger (table churn_rate_deltas), kept current in the transaction of every change that
moves a customer's "active at month start" figures, so the churn-rate report answers from a small table.

A customer's figures are signed deltas bucketed by month start (the same rules as `repository._SERIES`,
the query the report used to run and still the test oracle): +1 from the month start after `since`, -1
after a churn record's detection and +1 again after its win-back; an order's amount counts for the month
starts within 365 days after it, except while its customer is churned. Each delta row carries the
customer's current ABC class, stage, segment, region and channel, so filters apply to the ledger.

Keeping it: a tracked change (`track`) locks the customers it touches (advisory, sorted: one writer per
customer at a time), appends the negated deltas of their state before, lets the change run, then appends
the deltas of their state after. The ledger therefore always sums to the deltas of the current state, in
any event order, for redelivered events too (a no-op change appends x and -x). Rows are only appended
(no hot row is updated in place); `compact` folds them into one row per month and dimensions."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.inbox import EventHandler

from .repository import Active, accumulate

DIMENSIONS = ("abc_class", "stage", "segment", "region", "channel")
_DIMS = ", ".join(DIMENSIONS)


def _after(t: str) -> str:
    """The first month start after instant `t` (UTC)."""
    return f"(date_trunc('month', ({t}) AT TIME ZONE 'UTC') + interval '1 month')::date"


# The deltas of the customers in `scope` (`{scope}`: a condition on v), summed per month and dimensions;
# `{statement}`: what receives them (nothing: a query).
_SUMS = f"""
WITH v AS (
    SELECT customer_id, since, abc_class, stage, rfm_segment AS segment, region, last_order_channel AS channel
    FROM customer_values v WHERE v.merged_into IS NULL{{scope}}
),
c AS (
    SELECT c.customer_id, greatest(c.detected_at, v.since) AS out_at,
           CASE WHEN c.won_back_at IS NOT NULL THEN greatest(c.won_back_at, c.detected_at, v.since) END AS back_at
    FROM churn_records c JOIN v USING (customer_id) WHERE c.folded_into IS NULL
),
d (customer_id, m, n, revenue) AS (
    SELECT customer_id, {_after("since")}, 1, 0::numeric FROM v
    UNION ALL SELECT customer_id, {_after("out_at")}, -1, 0 FROM c
    UNION ALL SELECT customer_id, {_after("back_at")}, 1, 0 FROM c WHERE back_at IS NOT NULL
    UNION ALL SELECT o.customer_id, {_after("o.ordered_at")}, 0, o.amount
              FROM customer_orders o JOIN v USING (customer_id)
    UNION ALL SELECT o.customer_id, {_after("o.ordered_at + interval '365 days'")}, 0, -o.amount
              FROM customer_orders o JOIN v USING (customer_id)
    -- while churned (from out_at to back_at) the order's revenue is out
    UNION ALL SELECT x.customer_id, {_after("x.a")}, 0, -x.amount FROM (
        SELECT c.customer_id, o.amount, greatest(c.out_at, o.ordered_at) AS a,
               least(coalesce(c.back_at, 'infinity'), o.ordered_at + interval '365 days') AS b
        FROM c JOIN customer_orders o USING (customer_id)) x WHERE x.a < x.b
    UNION ALL SELECT x.customer_id, {_after("x.b")}, 0, x.amount FROM (
        SELECT c.customer_id, o.amount, greatest(c.out_at, o.ordered_at) AS a,
               least(coalesce(c.back_at, 'infinity'), o.ordered_at + interval '365 days') AS b
        FROM c JOIN customer_orders o USING (customer_id)) x WHERE x.a < x.b
)
{{statement}}
SELECT d.m, {", ".join(f"v.{d}" for d in DIMENSIONS)}, {{sign}} sum(d.n) AS n, {{sign}} sum(d.revenue) AS revenue
FROM d JOIN v USING (customer_id)
GROUP BY d.m, {", ".join(f"v.{d}" for d in DIMENSIONS)}
HAVING sum(d.n) <> 0 OR sum(d.revenue) <> 0
"""
_DELTAS = _SUMS.replace("{statement}", f"INSERT INTO churn_rate_deltas (m, {_DIMS}, n, revenue)")
_OF_IDS = " AND v.customer_id = ANY(CAST(:ids AS uuid[]))"
# Inside a tracked change the ledger lacks the locked customers' deltas until the change ends: reads made
# meanwhile (the mass-churn alert check) add their deltas as they stand now.
_PENDING = _SUMS.replace("{statement}", "").format(scope=" AND v.customer_id = ANY(CAST(:pending AS uuid[]))", sign="")
_PENDING_KEY = "churn_rate_ledger_pending"
SUBTRACT = text(_DELTAS.format(scope=_OF_IDS, sign="-"))
ADD = text(_DELTAS.format(scope=_OF_IDS, sign=""))
# The whole ledger from the read model (the migration, and after bulk loads that bypass the handlers).
REBUILD = ["TRUNCATE churn_rate_deltas", _DELTAS.format(scope="", sign="")]

# The customers a change to these ids can move: themselves and whoever they were merged into.
_AFFECTED = text("""
WITH RECURSIVE r (id) AS (
    SELECT unnest(CAST(:ids AS uuid[]))
    UNION SELECT v.merged_into FROM customer_values v JOIN r ON v.customer_id = r.id WHERE v.merged_into IS NOT NULL
)
SELECT id FROM r ORDER BY id
""")
# One tracked writer per customer (its own advisory-lock space: the first key names the ledger).
_LOCK = text("SELECT pg_advisory_xact_lock(1818584165, hashtext(CAST(CAST(:id AS uuid) AS text)))")

_COMPACT = text(f"""
WITH gone AS (DELETE FROM churn_rate_deltas RETURNING m, {_DIMS}, n, revenue)
INSERT INTO churn_rate_deltas (m, {_DIMS}, n, revenue)
SELECT m, {_DIMS}, sum(n), sum(revenue) FROM gone GROUP BY m, {_DIMS} HAVING sum(n) <> 0 OR sum(revenue) <> 0
""")


async def _affected(session: AsyncSession, ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    return list((await session.execute(_AFFECTED, {"ids": sorted(set(ids))})).scalars())


@asynccontextmanager
async def track(session: AsyncSession, ids: Iterable[uuid.UUID]) -> AsyncIterator[None]:
    """Wrap a change to these customers (read model, orders, records) in the caller's transaction."""
    wanted = await _affected(session, ids)
    for cid in wanted:
        await session.execute(_LOCK, {"id": cid})
    locked = set(wanted)
    # A merge committed while we waited may have moved them on: lock the new survivors too.
    for cid in await _affected(session, wanted):
        if cid not in locked:
            await session.execute(_LOCK, {"id": cid})
            locked.add(cid)
    await session.execute(SUBTRACT, {"ids": sorted(locked)})
    session.info[_PENDING_KEY] = sorted(locked)
    try:
        yield
    finally:
        session.info.pop(_PENDING_KEY, None)
    after = set(await _affected(session, locked))
    await session.execute(ADD, {"ids": sorted(locked | after)})


_ID_FIELDS: dict[str, Callable[[dict[str, Any]], list[Any]]] = {
    "customer.created": lambda d: [d["customer"]["id"]],
    "customer.updated": lambda d: [d["customer"]["id"]],
    "customer.merged": lambda d: [d["survivor_id"], d["merged_id"]],
    "order.created": lambda d: [d["customer_id"]],
    "score.changed": lambda d: [d["customer_id"]],
    "lifecycle.changed": lambda d: [d["customer_id"]],
}


def _ids(events: list[dict[str, Any]], key: Callable[[dict[str, Any]], list[Any]]) -> list[uuid.UUID]:
    """The customer ids of a batch (a malformed payload raises, as the handlers' own decoding would)."""
    return [msgspec.convert(i, uuid.UUID) for e in events for i in key(e["data"])]


def tracked(table: Mapping[str, EventHandler]) -> dict[str, EventHandler]:
    """The handler table with every event type that can move the ledger's figures wrapped in `track`."""

    def wrap(handler: EventHandler, key: Callable[[dict[str, Any]], list[Any]]) -> EventHandler:
        async def handle(session: AsyncSession, events: list[dict[str, Any]]) -> None:
            async with track(session, _ids(events, key)):
                await handler(session, events)

        return handle

    return {t: wrap(h, _ID_FIELDS[t]) if t in _ID_FIELDS else h for t, h in table.items()}


async def rebuild(session: AsyncSession) -> None:
    for sql in REBUILD:
        await session.execute(text(sql))


async def compact(session: AsyncSession) -> bool:
    """Fold the ledger into one row per month and dimensions (skipped while another replica does)."""
    if not (await session.execute(text("SELECT pg_try_advisory_xact_lock(1818584165, 0)"))).scalar_one():
        return False
    await session.execute(_COMPACT)
    return True


async def active_series(session: AsyncSession, starts: list[date], filters: Mapping[str, Any]) -> dict[date, Active]:
    """`repository.active_at` of each month start in `starts` (sorted), from the ledger."""
    where = "".join(f" AND {d} = :{d}" for d in DIMENSIONS if filters.get(d) is not None)
    params: dict[str, Any] = {d: filters[d] for d in DIMENSIONS if filters.get(d) is not None}
    source = "churn_rate_deltas"
    if pending := session.info.get(_PENDING_KEY):  # read within a tracked change
        source = f"(SELECT m, {_DIMS}, n, revenue FROM churn_rate_deltas UNION ALL ({_PENDING})) AS l"
        params["pending"] = pending
    sql = f"SELECT m, sum(n), sum(revenue) FROM {source} WHERE m <= :last{where} GROUP BY m ORDER BY m"
    rows = list(await session.execute(text(sql), {"last": starts[-1], **params}))
    return accumulate(rows, starts)
