"""Writing scored customers back: binary COPY into a staging table, then one set-based upsert that also
captures the previous values, so stage changes and material score changes are recorded and published in
the same transaction (outbox) for the batch and for incremental rescoring alike."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg
import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.db import driver_connection
from crm_shared.events import new_event
from crm_shared.outbox import publish

from ..rules.schemas import Rules
from ..scores.models import STAGES
from .binary_copy import copy_stream, encode
from .cents import cents, numeric_binary

SOURCE = "/services/scoring"
Cause = Literal["event", "batch"]
# How long an event's score write waits for a batch swapping the table in (about a second; several when
# the batch records a change for most of the base) before failing and being redelivered with backoff.
# Below the outbox's delivery timeout (10 s), so the delivery sees how it ended.
SWAP_WAIT = "8s"

_FIXED: tuple[tuple[str, str], ...] = (
    ("customer_id", "uuid"),
    ("n_days", "int4"),
    ("n_orders", "int4"),
    ("first_at", "float8"),
    ("last_at", "float8"),
    ("total", "numeric"),  # MONEY
    ("avg_spend", "numeric"),  # MONEY
    ("spend_12m", "numeric"),  # MONEY
    ("monthly_frequency", "float8"),
    ("monthly_avg_spend", "numeric"),  # MONEY
    ("tenure_months", "float8"),
    ("recency_days", "int4"),
    ("frequency_trend", "float8"),
    ("spend_trend", "float8"),
    ("r", "int2"),
    ("f", "int2"),
    ("m", "int2"),
    ("segment", "int2"),
    ("abc", "int2"),
    ("gold", "bool"),
    ("drag", "bool"),
    ("composite", "numeric"),  # MONEY
    ("formula_version", "int4"),
    ("p_alive", "float8"),
    ("churn_risk", "float8"),
    ("expected_spend", "numeric"),  # MONEY
    ("clv", "numeric"),  # MONEY
    ("stage", "int2"),
    ("stage_rule", "int2"),
)
_PG_TYPES = {
    "uuid": "uuid",
    "int2": "int2",
    "int4": "int4",
    "int8": "int8",
    "float8": "float8",
    "bool": "bool",
    "timestamptz": "timestamptz",
    "numeric": "numeric",
}
# The figures stored as numeric(_, 2): rounded to whole cents in NumPy as PostgreSQL's round(float8::numeric,
# 2) rounds (compute/cents.py) and staged as binary numerics (NaN for none). PostgreSQL's float8 -> numeric
# goes through text: at 1M scores the seven conversions were 5 of the new table's 11 s; from int8 cents,
# `::numeric * 0.01`, still ~1 s.
MONEY = ("total", "avg_spend", "spend_12m", "monthly_avg_spend", "composite", "expected_spend", "clv")


def staged_columns(n_horizons: int) -> tuple[tuple[str, str], ...]:
    return _FIXED + tuple((f"exp_{i}", "float8") for i in range(n_horizons))


def _num(col: str) -> str:
    return f"NULLIF(s.{col}, 'NaN')"


def _flt(col: str) -> str:
    return f"NULLIF(s.{col}, 'NaN')"


def _pct(col: str) -> str:
    return f"coalesce(round(NULLIF(s.{col}, 'NaN') * 100)::text || '%', 'n/a')"


# $4.. are the lifecycle thresholds and the trend window, so the text always states the rule in force.
REASON_SQL = f"""CASE s.stage_rule
    WHEN 1 THEN 'known customer, no purchase yet'
    WHEN 2 THEN format('no purchase for %s days (churned after %s)', s.recency_days, $4::int)
    WHEN 3 THEN format('P(alive) %s is below %s', round({_flt("p_alive")}::numeric, 3), $5::float8)
    WHEN 4 THEN format('one purchase day so far, %s days ago', s.recency_days)
    WHEN 5 THEN format('P(alive) %s is below %s', round({_flt("p_alive")}::numeric, 3), $6::float8)
    WHEN 6 THEN format('purchase days %s and spend %s over the last %s days against the %s days before '
                       '(decline at %s%% or lower on both)', {_pct("frequency_trend")}, {_pct("spend_trend")},
                       $9::int, $9::int, round($7::float8 * 100))
    WHEN 7 THEN format('%s purchase days so far (growth up to %s)', s.n_days, $8::int)
    WHEN 8 THEN format('spend %s over the last %s days against the %s days before (growth from +%s%%)',
                       {_pct("spend_trend")}, $9::int, $9::int, round($10::float8 * 100))
    ELSE format('%s purchase days, P(alive) %s, spend trend %s: stable', s.n_days,
                coalesce(round({_flt("p_alive")}::numeric, 3)::text, 'n/a'), {_pct("spend_trend")})
END"""

STAGES_SQL = "ARRAY[" + ", ".join(f"'{s}'" for s in STAGES) + "]"


SCORE_COLUMNS = (
    "customer_id, as_of, first_purchase_at, last_purchase_at, purchase_days, order_count, total_spend, avg_spend, "
    "spend_12m, monthly_frequency, monthly_avg_spend, tenure_months, recency_days, frequency_trend, spend_trend, "
    "r, f, m, rfm_segment, abc_class, gold, drag, composite_score, formula_version, p_alive, churn_risk, "
    "expected_purchases, expected_spend, clv, calibration_id, stage, stage_reason, stage_since, computed_at"
)


def select_list(n_horizons: int, stage_since: str = "$1", computed_at: str = "clock_timestamp()") -> str:
    """The stored row computed from a staged one (alias `s`): $1 = as_of, $2 = calibration id, $3 = segment
    names, $4.. the lifecycle thresholds (see REASON_SQL). `computed_at` is the time of the write, not of
    the transaction's start: what a batch keeps as newer (see read_barrier)."""
    exp = ", ".join(_flt(f"exp_{i}") for i in range(n_horizons))
    return f"""s.customer_id, $1::timestamptz, to_timestamp({_flt("first_at")}), to_timestamp({_flt("last_at")}),
        s.n_days, s.n_orders, {_num("total")}, {_num("avg_spend")}, {_num("spend_12m")},
        {_flt("monthly_frequency")}, {_num("monthly_avg_spend")}, {_flt("tenure_months")},
        NULLIF(s.recency_days, -1), {_flt("frequency_trend")}, {_flt("spend_trend")}, s.r, s.f, s.m,
        ($3::text[])[s.segment + 1], (ARRAY['C', 'B', 'A'])[s.abc], s.gold, s.drag, {_num("composite")},
        NULLIF(s.formula_version, -1), {_flt("p_alive")}, {_flt("churn_risk")},
        CASE WHEN s.p_alive = 'NaN' THEN NULL ELSE ARRAY[{exp}] END, {_num("expected_spend")}, {_num("clv")},
        CASE WHEN s.p_alive = 'NaN' THEN NULL ELSE $2::int END,
        ({STAGES_SQL})[s.stage + 1], {REASON_SQL}, {stage_since}, {computed_at}"""


def changed_sql(new: str, old: str, first: int) -> str:
    """What moved materially between two score rows; ${first}.. are the `changes` thresholds."""
    p, c, a = f"${first}", f"${first + 1}", f"${first + 2}"
    return f"""array_remove(ARRAY[
           CASE WHEN abs({new}.composite_score - {old}.composite_score) >= {p} THEN 'composite_score' END,
           CASE WHEN ({new}.clv IS NULL) <> ({old}.clv IS NULL)
                  OR abs({new}.clv - {old}.clv) >= {c} * greatest(abs({old}.clv), 0.01) THEN 'clv' END,
           CASE WHEN ({new}.p_alive IS NULL) <> ({old}.p_alive IS NULL)
                  OR abs({new}.p_alive - {old}.p_alive) >= {a} THEN 'p_alive' END,
           CASE WHEN {new}.abc_class IS DISTINCT FROM {old}.abc_class THEN 'abc_class' END,
           CASE WHEN {new}.rfm_segment IS DISTINCT FROM {old}.rfm_segment THEN 'rfm_segment' END,
           CASE WHEN {new}.gold <> {old}.gold THEN 'gold' END,
           CASE WHEN {new}.drag <> {old}.drag THEN 'drag' END
       ]::text[], NULL)"""


DIFF_COLUMNS = (
    "customer_id, stage, stage_reason, composite_score, clv, p_alive, churn_risk, abc_class, rfm_segment, gold, drag"
)
_UPDATE_SET = ", ".join(
    f"{c} = EXCLUDED.{c}" for c in SCORE_COLUMNS.replace(" ", "").split(",") if c not in ("customer_id", "stage_since")
)


def _upsert_sql(n_horizons: int) -> str:
    returning = ", ".join(f"cs.{c}" for c in DIFF_COLUMNS.split(", "))
    return f"""
WITH up AS (
    INSERT INTO customer_scores AS cs ({SCORE_COLUMNS})
    SELECT {select_list(n_horizons)}
    FROM staged_scores s
    ON CONFLICT (customer_id) DO UPDATE SET {_UPDATE_SET},
        stage_since = CASE WHEN cs.stage = EXCLUDED.stage THEN cs.stage_since ELSE EXCLUDED.stage_since END
    RETURNING {returning}
)
INSERT INTO score_diffs
SELECT up.*, prev.customer_id IS NOT NULL, prev.stage, prev.composite_score, prev.clv, prev.p_alive,
       {changed_sql("up", "prev", 11)}
FROM up LEFT JOIN score_prev prev ON prev.customer_id = up.customer_id
"""


# The previous values, locked, in their own statement: a row that the upsert modifies is invisible to a
# FOR UPDATE in the same statement, so the old values must be read before.
_PREV_SQL = """
INSERT INTO score_prev
SELECT cs.customer_id, cs.stage, cs.composite_score, cs.clv, cs.p_alive, cs.abc_class, cs.rfm_segment, cs.gold,
       cs.drag
FROM customer_scores cs JOIN staged_scores s ON s.customer_id = cs.customer_id
FOR UPDATE OF cs
"""


_PREV_DDL = """
CREATE TEMP TABLE score_prev (
    customer_id uuid, stage text, composite_score numeric, clv numeric, p_alive float8, abc_class text,
    rfm_segment text, gold bool, drag bool
) ON COMMIT DROP
"""

_DIFFS_DDL = """
CREATE TEMP TABLE score_diffs (
    customer_id uuid, stage text, stage_reason text, composite_score numeric, clv numeric, p_alive float8,
    churn_risk float8, abc_class text, rfm_segment text, gold bool, drag bool, existed bool, old_stage text,
    old_composite_score numeric, old_clv numeric, old_p_alive float8, changed text[]
) ON COMMIT DROP
"""

_HISTORY_SQL = """
WITH stages AS (
    INSERT INTO stage_changes (customer_id, as_of, cause, from_stage, to_stage, reason)
    SELECT customer_id, $1, $2, old_stage, stage, stage_reason FROM score_diffs
    WHERE old_stage IS DISTINCT FROM stage
    RETURNING 1
), scores AS (
    INSERT INTO score_changes (customer_id, as_of, cause, composite_score, clv, p_alive, abc_class, rfm_segment,
                               stage, changed)
    SELECT customer_id, $1, $2, composite_score, clv, p_alive, abc_class, rfm_segment, stage, changed
    FROM score_diffs WHERE existed AND cardinality(changed) > 0
    RETURNING 1
)
SELECT (SELECT count(*) FROM stages), (SELECT count(*) FROM scores)
"""

_EVENTS_SQL = """
SELECT customer_id, stage, stage_reason, composite_score, clv, p_alive, churn_risk, abc_class, rfm_segment, gold,
       drag, existed, old_stage, old_composite_score, old_clv, changed
FROM score_diffs
WHERE (old_stage IS DISTINCT FROM stage AND (existed OR $1)) OR (existed AND cardinality(changed) > 0)
"""


@dataclass(frozen=True)
class WriteResult:
    written: int
    stage_changes: int
    score_changes: int
    events: int


def _money(v: Any) -> str | None:
    return None if v is None else str(v)


def _events(rows: list[asyncpg.Record], as_of: datetime, cause: Cause) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    stamp = as_of.isoformat()
    for r in rows:
        cid = str(r["customer_id"])
        if r["old_stage"] != r["stage"] and (r["existed"] or cause == "event"):
            data = {
                "customer_id": cid,
                "as_of": stamp,
                "cause": cause,
                "from_stage": r["old_stage"],
                "to_stage": r["stage"],
                "reason": r["stage_reason"],
            }
            events.append(new_event("lifecycle.changed", source=SOURCE, subject=cid, data=data))
        if r["existed"] and r["changed"]:
            data = {
                "customer_id": cid,
                "as_of": stamp,
                "cause": cause,
                "changed": list(r["changed"]),
                "composite_score": _money(r["composite_score"]),
                "previous_composite_score": _money(r["old_composite_score"]),
                "clv": _money(r["clv"]),
                "previous_clv": _money(r["old_clv"]),
                "p_alive": r["p_alive"],
                "churn_risk": r["churn_risk"],
                "abc_class": r["abc_class"],
                "rfm_segment": r["rfm_segment"],
                "gold": r["gold"],
                "drag": r["drag"],
            }
            events.append(new_event("score.changed", source=SOURCE, subject=cid, data=data))
    return events


def reason_args(rules: Rules) -> list[Any]:
    """$4..$10: the lifecycle thresholds and the trend window the reason texts quote."""
    lc = rules.lifecycle
    return [
        lc.churned_days,
        lc.churned_p_alive,
        lc.decline_p_alive,
        lc.decline_trend,
        lc.growth_max_purchase_days,
        rules.clv.trend_window_days,
        lc.growth_trend,
    ]


async def stage(conn: asyncpg.Connection, scored: dict[str, np.ndarray], n_horizons: int, copy_chunk: int) -> None:
    """The scored rows into a staging table, and the empty tables the diffs go through."""
    await stage_rows(conn, scored, n_horizons, copy_chunk)
    await create_diff_tables(conn)


async def stage_rows(
    conn: asyncpg.Connection,
    scored: dict[str, np.ndarray],
    n_horizons: int,
    copy_chunk: int,
    extra: tuple[tuple[str, str], ...] = (),
) -> None:
    """The scored rows into the temp table `staged_scores` (dropped at commit), with the `extra` columns."""
    columns = staged_columns(n_horizons) + extra
    ddl = ", ".join(f"{name} {_PG_TYPES[t]}" for name, t in columns)
    # One delivery can rescore several times in one transaction (one handler per event type).
    await conn.execute("DROP TABLE IF EXISTS staged_scores")
    await conn.execute(f"CREATE TEMP TABLE staged_scores ({ddl}) ON COMMIT DROP")

    def encoded(start: int) -> bytearray:
        chunk = {k: v[start : start + copy_chunk] for k, v in scored.items()}
        chunk.update({k: numeric_binary(cents(chunk[k])) for k in MONEY})
        return encode(columns, chunk)

    # Each chunk is encoded in a thread while the one before it is sent (1.7 s of NumPy per 1M rows, which on
    # the event loop held up the other connections' COPYs of a batch).
    starts = range(0, len(scored["customer_id"]), copy_chunk)
    upcoming = asyncio.ensure_future(asyncio.to_thread(encoded, starts[0])) if starts else None
    for i in range(len(starts)):
        assert upcoming is not None
        stream = await upcoming
        upcoming = asyncio.ensure_future(asyncio.to_thread(encoded, starts[i + 1])) if i + 1 < len(starts) else None
        try:
            await copy_stream(conn, "staged_scores", columns, stream)
        except BaseException:
            if upcoming is not None:
                await asyncio.wait([upcoming])  # no encoding left running behind a failed write
            raise
        del stream


async def create_diff_tables(conn: asyncpg.Connection) -> None:
    """The empty temp tables a write's diffs go through (dropped at commit)."""
    await conn.execute("DROP TABLE IF EXISTS score_prev, score_diffs")
    await conn.execute(_PREV_DDL)
    await conn.execute(_DIFFS_DDL)


async def record(
    session: AsyncSession, conn: asyncpg.Connection, *, as_of: datetime, cause: Cause, events_per_message: int
) -> tuple[int, int, int]:
    """From score_diffs: stage and score history, and the events, published in the same transaction.
    Returns (stage changes, score changes, events)."""
    counts = await conn.fetchrow(_HISTORY_SQL, as_of, cause)
    assert counts is not None, "an aggregate SELECT answers one row"
    stage_count, score_count = counts
    rows = await conn.fetch(_EVENTS_SQL, cause == "event")
    events = _events(rows, as_of, cause)
    for i in range(0, len(events), events_per_message):
        await publish(session, events[i : i + events_per_message])
    return int(stage_count), int(score_count), len(events)


async def write_scores(
    session: AsyncSession,
    scored: dict[str, np.ndarray],
    *,
    as_of: datetime,
    rules: Rules,
    calibration_id: int | None,
    cause: Cause,
    segment_names: list[str],
    events_per_message: int = 5000,
    copy_chunk: int = 100_000,
) -> WriteResult:
    """Upsert the scored rows, record history and publish events, all in the session's transaction."""
    conn = await driver_connection(session)
    n_horizons = len(rules.clv.horizons_days)
    await stage(conn, scored, n_horizons, copy_chunk)
    await conn.execute(f"SET LOCAL lock_timeout = '{SWAP_WAIT}'")  # the first statement on customer_scores
    await conn.execute(_PREV_SQL)
    ch = rules.changes
    args: list[Any] = [as_of, calibration_id, segment_names, *reason_args(rules)]
    args += [ch.composite_points, ch.clv_relative, ch.p_alive]
    status = await conn.execute(_upsert_sql(n_horizons), *args)
    counts = await record(session, conn, as_of=as_of, cause=cause, events_per_message=events_per_message)
    return WriteResult(int(status.split()[-1]), *counts)
