"""Every query of the watchlist: refreshing entries from the read model, and the list itself."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql import ColumnElement

from .models import WatchEntry
from .schemas import SIGNALS, Signal, WatchlistFilters, WatchlistSettings

_ENSURE = "INSERT INTO watchlist_entries (customer_id) SELECT DISTINCT unnest($1::uuid[]) ON CONFLICT DO NOTHING"

# Copy the read model's state of the customers (their survivors too), counting orders, distinct product
# lines and complaints on the read model's per-customer indexes.
_COPY = """
UPDATE watchlist_entries w SET
    merged_into = v.merged_into, region = v.region, abc_class = v.abc_class, stage = v.stage, clv = v.clv,
    churn_risk = v.churn_risk, quiet_since = greatest(v.since, v.last_interaction_at),
    last_interaction_at = v.last_interaction_at, last_order_at = v.last_order_at,
    orders = o.orders, product_lines = o.lines, open_complaints = c.open, complaints = c.total,
    listed = v.merged_into IS NULL AND v.stage IS DISTINCT FROM 'churned', updated_at = now()
FROM customer_values v
CROSS JOIN LATERAL (
    SELECT count(*) AS orders,
           (SELECT count(DISTINCT pl) FROM customer_orders x, unnest(x.product_lines) pl
            WHERE x.customer_id = v.customer_id) AS lines
    FROM customer_orders co WHERE co.customer_id = v.customer_id
) o
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE cc.status IN ('open', 'in_progress')) AS open, count(*) AS total
    FROM customer_complaints cc WHERE cc.customer_id = v.customer_id
) c
WHERE w.customer_id = v.customer_id{scope}
"""
_COPY_OF = _COPY.format(scope=" AND v.customer_id = ANY($1::uuid[])")

# The derived flags and value at risk, of some entries (by id) or, after the settings changed, of all.
_FLAGS = """
UPDATE watchlist_entries SET
    declining = coalesce(stage = 'decline', false) OR fall >= $1,
    narrow = orders >= $2 AND product_lines BETWEEN 1 AND $3,
    tier = CASE WHEN abc_class = 'A' AND complaints >= $4 AND open_complaints > 0 THEN 1 ELSE 0 END,
    value_at_risk = greatest(0, round(coalesce(clv, 0) * coalesce(churn_risk, 0)::numeric, 2))
"""
_FLAGS_OF = _FLAGS + "WHERE customer_id = ANY($5::uuid[])"

_SURVIVORS = (
    "SELECT DISTINCT merged_into FROM customer_values WHERE customer_id = ANY($1::uuid[]) AND merged_into IS NOT NULL"
)

# Scores apply in as_of order: an older score.changed delivered late changes nothing.
_SCORES = """
UPDATE watchlist_entries w SET gold = t.gold, fall = t.fall, score_as_of = t.as_of
FROM unnest($1::uuid[], $2::bool[], $3::float8[], $4::timestamptz[]) AS t(customer_id, gold, fall, as_of)
WHERE w.customer_id = t.customer_id AND (w.score_as_of IS NULL OR w.score_as_of <= t.as_of)
"""


async def refresh(conn: asyncpg.Connection, ids: Sequence[uuid.UUID], settings: WatchlistSettings) -> None:
    """Bring the entries of these customers (and of the survivors they were merged into) up to date."""
    wanted = sorted(set(ids))
    wanted += [r[0] for r in await conn.fetch(_SURVIVORS, wanted) if r[0] not in set(wanted)]
    await conn.execute(_ENSURE, wanted)
    await conn.execute(_COPY_OF, wanted)
    await refresh_flags(conn, wanted, settings)


async def rebuild(conn: asyncpg.Connection, settings: WatchlistSettings) -> None:
    """Every customer's entry from the read model (after bulk loads that bypass the handlers); the scores'
    fields (gold, fall) stay as they are."""
    await conn.execute(
        "INSERT INTO watchlist_entries (customer_id) SELECT customer_id FROM customer_values ON CONFLICT DO NOTHING"
    )
    await conn.execute(_COPY.format(scope=""))
    await refresh_flags(conn, None, settings)


async def refresh_flags(conn: asyncpg.Connection, ids: Sequence[uuid.UUID] | None, s: WatchlistSettings) -> None:
    """Re-derive the flags of these entries (None: of every entry, one statement)."""
    thresholds = (s.falling_share, s.narrow_min_orders, s.narrow_max_lines, s.repeat_complaints)
    if ids is None:
        await conn.execute(_FLAGS, *thresholds)
    else:
        await conn.execute(_FLAGS_OF, *thresholds, ids)


async def apply_scores(conn: asyncpg.Connection, rows: Sequence[tuple[uuid.UUID, bool, float, datetime]]) -> None:
    await conn.execute(_ENSURE, [r[0] for r in rows])
    await conn.execute(_SCORES, *(list(column) for column in zip(*rows, strict=True)))


def signal_condition(signal: Signal, *, quiet_before: datetime, year_start: datetime) -> ColumnElement[bool]:
    """The condition of one signal (the stored flags match their partial indexes' predicates)."""
    w = WatchEntry
    conditions: dict[Signal, ColumnElement[bool] | InstrumentedAttribute[bool]] = {
        "declining": w.declining,
        "complaints": w.open_complaints > 0,
        "narrow_lines": w.narrow,
        "silent": w.quiet_since < quiet_before,
        "lapsed_top": and_(w.gold, or_(w.last_order_at.is_(None), w.last_order_at < year_start)),
    }
    return conditions[signal]  # type: ignore[return-value]


def any_signal(*, quiet_before: datetime, year_start: datetime) -> ColumnElement[bool]:
    """On the list without a signal filter: the priority tier or any signal."""
    anything = [signal_condition(s, quiet_before=quiet_before, year_start=year_start) for s in SIGNALS]
    return or_(WatchEntry.tier == 1, *anything)


def watchlist(filters: WatchlistFilters, *, quiet_before: datetime, year_start: datetime) -> Select[WatchEntry]:
    """The listed customers carrying the filtered signal (any signal without one), unordered."""
    stmt = select(WatchEntry).where(WatchEntry.listed)
    if filters.signal is not None:
        stmt = stmt.where(signal_condition(filters.signal, quiet_before=quiet_before, year_start=year_start))
    else:
        stmt = stmt.where(any_signal(quiet_before=quiet_before, year_start=year_start))
    if filters.abc_class is not None:
        stmt = stmt.where(WatchEntry.abc_class == filters.abc_class)
    if filters.stage is not None:
        stmt = stmt.where(WatchEntry.stage == filters.stage)
    if filters.region is not None:
        stmt = stmt.where(WatchEntry.region == filters.region)
    return stmt


ORDER = (WatchEntry.tier.desc(), WatchEntry.value_at_risk.desc(), WatchEntry.customer_id.desc())


# The summary's groups: one row per (ABC class, stage, region) of the listed entries, and for any signal
# ("any") and each signal its count, priority count and value at risk: any filters' totals add up from them.
SUMMARY_KEYS: tuple[str, ...] = ("any", *SIGNALS)
GROUP_COLUMNS = (WatchEntry.abc_class, WatchEntry.stage, WatchEntry.region)


def summary_groups(*, quiet_before: datetime, year_start: datetime) -> Select[*tuple[Any, ...]]:
    """One scan of the listed entries, grouped; per key of SUMMARY_KEYS three columns (count, priority, value)."""
    w = WatchEntry
    clock = {"quiet_before": quiet_before, "year_start": year_start}
    conditions: dict[str, ColumnElement[bool]] = {"any": any_signal(**clock)}
    conditions.update({s: signal_condition(s, **clock) for s in SIGNALS})
    figures = [
        column
        for key in SUMMARY_KEYS
        for column in (
            func.count().filter(conditions[key]),
            func.count().filter(and_(conditions[key], w.tier == 1)),
            func.coalesce(func.sum(w.value_at_risk).filter(conditions[key]), 0),
        )
    ]
    return select(*GROUP_COLUMNS, *figures).where(w.listed).group_by(*GROUP_COLUMNS)
