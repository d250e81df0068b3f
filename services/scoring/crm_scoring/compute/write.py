"""Writing rescored customers back: their stored forms (compute/stored.py) by binary COPY into a staging table,
then one set-based upsert that also captures the previous values, so stage changes and material score changes
are recorded and published in the same transaction (outbox). The batch records its changes the same way
(`record`, from its own diff: compute/swap.py)."""

from __future__ import annotations

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
from .binary_copy import binary_timestamp
from .stored import COLUMNS, Context, copy_rows, staging_ddl

SOURCE = "/services/scoring"
Cause = Literal["event", "batch"]
# How long an event's score write waits for a batch swapping the table in (about a second; several when
# the batch records a change for most of the base) before failing and being redelivered with backoff.
# Below the outbox's delivery timeout (10 s), so the delivery sees how it ended.
SWAP_WAIT = "8s"

SCORE_COLUMNS = ", ".join([*COLUMNS, "computed_at"])


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


# computed_at: the time of the write, not of the transaction's start: what a batch keeps as newer (see
# read_barrier).
_UPSERT_SQL = f"""
WITH up AS (
    INSERT INTO customer_scores AS cs ({SCORE_COLUMNS})
    SELECT {", ".join(f"s.{c}" for c in COLUMNS)}, clock_timestamp()
    FROM staged_scores s
    ON CONFLICT (customer_id) DO UPDATE SET {_UPDATE_SET},
        stage_since = CASE WHEN cs.stage = EXCLUDED.stage THEN cs.stage_since ELSE EXCLUDED.stage_since END
    RETURNING {", ".join(f"cs.{c}" for c in DIFF_COLUMNS.split(", "))}
)
INSERT INTO score_diffs
SELECT up.*, prev.customer_id IS NOT NULL, prev.stage, prev.composite_score, prev.clv, prev.p_alive,
       {changed_sql("up", "prev", 1)}
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


async def stage(conn: asyncpg.Connection, scored: dict[str, np.ndarray], context: Context, copy_chunk: int) -> None:
    """The scored rows' stored forms into the temp table `staged_scores` (dropped at commit), and the empty
    tables the diffs go through. `scored` holds `stage_since`."""
    # One delivery can rescore several times in one transaction (one handler per event type).
    await conn.execute("DROP TABLE IF EXISTS staged_scores")
    await conn.execute(staging_ddl("staged_scores", COLUMNS))
    await copy_rows(conn, "staged_scores", scored, context, copy_chunk=copy_chunk)
    await create_diff_tables(conn)


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
    micros = binary_timestamp(as_of)
    context = Context(micros, calibration_id, segment_names, rules)
    rows = {**scored, "stage_since": np.full(len(scored["customer_id"]), micros, dtype=np.int64)}
    await conn.execute(f"SET LOCAL lock_timeout = '{SWAP_WAIT}'")  # before the first statement on customer_scores
    await stage(conn, rows, context, copy_chunk)
    await conn.execute(_PREV_SQL)
    ch = rules.changes
    status = await conn.execute(_UPSERT_SQL, ch.composite_points, ch.clv_relative, ch.p_alive)
    counts = await record(session, conn, as_of=as_of, cause=cause, events_per_message=events_per_message)
    return WriteResult(int(status.split()[-1]), *counts)
