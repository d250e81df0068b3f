"""The batch's write: a whole new `customer_scores` built beside the old one and swapped in.

Upserting a million rows into a table with six indexes costs ten times writing them into a bare table and
building the indexes afterwards (measured: 33-53 s against 3-7 s plus the builds). So the batch writes
`customer_scores_next` without indexes, carries over the rows it must not replace (customers rescored by an
event after the batch's read started, and customers it did not see), diffs new against old for the history
and the events, and builds the indexes, all while events go on writing the old table (`build_next`). Only
then it locks writers out, brings the next table up to date with what events wrote meanwhile, and swaps
the tables (`swap_in`): a lock of about a second, which event handlers wait out. Everything is in the
batch's one transaction; readers keep reading the old table until the swap commits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.db import driver_connection

from ..base import Base
from ..distributions.buckets import BUCKETS
from ..distributions.cells import CELLS
from ..purchases.models import KnownCustomer
from ..rules.schemas import Rules
from ..scores.models import CustomerScore
from .write import (
    DIFF_COLUMNS,
    SCORE_COLUMNS,
    STAGES_SQL,
    WriteResult,
    changed_sql,
    reason_args,
    record,
    select_list,
    stage,
)

TABLE = CustomerScore.__tablename__
NEXT = f"{TABLE}_next"


def _index_ddl() -> list[tuple[str, str]]:
    """(final name, CREATE INDEX on the next table under a temporary name) for every secondary index."""
    out = []
    for index in Base.metadata.tables[CustomerScore.__tablename__].indexes:
        columns = ", ".join(c.name for c in index.columns)
        unique = "UNIQUE " if index.unique else ""
        out.append((str(index.name), f"CREATE {unique}INDEX {index.name}_next ON {NEXT} ({columns})"))
    return out


@dataclass(frozen=True)
class Built:
    inserted: int  # rows written from the batch's scores (the rest of the next table is carried over)


def _lap(timings: dict[str, float]) -> Callable[[str], None]:
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    return lap


async def build_next(
    session: AsyncSession,
    scored: dict[str, np.ndarray],
    *,
    as_of: datetime,
    rules: Rules,
    calibration_id: int | None,
    segment_names: list[str],
    read_started: datetime,
    copy_chunk: int = 100_000,
    timings: dict[str, float] | None = None,
) -> Built:
    """The next table, its diffs against the live one and its indexes, without blocking anyone. `timings`
    receives seconds per step (what ops look at when a run is slow)."""
    lap = _lap({} if timings is None else timings)
    conn = await driver_connection(session)
    n_horizons = len(rules.clv.horizons_days)
    await conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
    await stage(conn, scored, n_horizons, copy_chunk)
    await conn.execute("ANALYZE staged_scores")  # temp tables are never auto-analyzed: plan joins on real sizes
    lap("stage")
    await conn.execute(f"DROP TABLE IF EXISTS {NEXT}")
    await conn.execute(f"CREATE TABLE {NEXT} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    args: list[Any] = [as_of, calibration_id, segment_names, *reason_args(rules), read_started]
    stage_since = f"CASE WHEN old.stage = ({STAGES_SQL})[s.stage + 1] THEN old.stage_since ELSE $1 END"
    # One statement, so one snapshot: a customer rescored by an event meanwhile is either inserted from the
    # batch's scores or carried over, never both.
    await conn.execute(
        f"""
        INSERT INTO {NEXT} ({SCORE_COLUMNS})
        SELECT {select_list(n_horizons, stage_since, computed_at="now()")}
        FROM staged_scores s LEFT JOIN {TABLE} old ON old.customer_id = s.customer_id
        WHERE old.customer_id IS NULL OR old.computed_at < $11
        UNION ALL
        SELECT {", ".join(f"old.{c}" for c in SCORE_COLUMNS.split(", "))}
        FROM {TABLE} old LEFT JOIN staged_scores s ON s.customer_id = old.customer_id
        WHERE s.customer_id IS NULL OR old.computed_at >= $11
        """,
        *args,
    )
    await conn.execute(f"ANALYZE {NEXT}")
    lap("insert")
    ch = rules.changes
    new_columns = ", ".join(f"n.{c}" for c in DIFF_COLUMNS.split(", "))
    # The rows inserted from the batch's scores (less any rescored by an event since: caught up later).
    diffs = await conn.execute(
        f"""
        INSERT INTO score_diffs
        SELECT {new_columns}, old.customer_id IS NOT NULL, old.stage, old.composite_score, old.clv, old.p_alive,
               {changed_sql("n", "old", 2)}
        FROM {NEXT} n JOIN staged_scores s ON s.customer_id = n.customer_id
        LEFT JOIN {TABLE} old ON old.customer_id = n.customer_id
        WHERE old.customer_id IS NULL OR old.computed_at < $1
        """,
        read_started,
        ch.composite_points,
        ch.clv_relative,
        ch.p_alive,
    )
    lap("diff")
    await conn.execute(f"CREATE UNIQUE INDEX {TABLE}_pk_next ON {NEXT} (customer_id)")
    for _, ddl in _index_ddl():
        await conn.execute(ddl)
    lap("indexes")
    # The score cells and buckets of the next table, aggregated while writers go on (distributions/kept.py).
    for kept in KEPT:
        for statement in kept.prepare_sql(NEXT):
            await conn.execute(statement)
    lap("aggregates")
    return Built(int(diffs.split()[-1]))


# Customers whose live row changed after the next table was built from it: rescored by an event since the
# batch's read started (stamped later, see read_barrier), or merged into another customer (row deleted).
_CATCH_UP_SQL = f"""
CREATE TEMP TABLE caught_up ON COMMIT DROP AS
SELECT customer_id FROM {TABLE} WHERE computed_at >= $1
UNION
SELECT customer_id FROM {KnownCustomer.__tablename__} WHERE merged_into IS NOT NULL
"""


KEPT = (CELLS, BUCKETS)  # tables kept by triggers on the scores (distributions/kept.py)
_CAUGHT_UP = "(SELECT s.* FROM {table} s JOIN caught_up c ON c.customer_id = s.customer_id) AS t"


async def swap_in(
    session: AsyncSession,
    built: Built,
    *,
    as_of: datetime,
    read_started: datetime,
    events_per_message: int = 5000,
    timings: dict[str, float] | None = None,
) -> WriteResult:
    """Lock writers out, take over what they wrote since `build_next` read the live table, swap the tables,
    and record the history and the events of the batch's own changes."""
    lap = _lap({} if timings is None else timings)
    conn = await driver_connection(session)
    # Writers wait from here to the commit (event handlers allow for it: write.SWAP_WAIT); readers only from
    # the DROP, the last statements.
    await conn.execute(f"LOCK TABLE {TABLE} IN EXCLUSIVE MODE")
    await conn.execute("DROP TABLE IF EXISTS caught_up")
    await conn.execute(_CATCH_UP_SQL, read_started)
    for kept in KEPT:  # the rows the catch-up replaces leave the prepared cells and buckets...
        await conn.execute(kept.adjust_sql(_CAUGHT_UP.format(table=NEXT), -1))
    await conn.execute(f"DELETE FROM {NEXT} n USING caught_up c WHERE n.customer_id = c.customer_id")
    overtaken = await conn.execute("DELETE FROM score_diffs d USING caught_up c WHERE d.customer_id = c.customer_id")
    await conn.execute(
        f"INSERT INTO {NEXT} SELECT old.* FROM {TABLE} old JOIN caught_up c ON c.customer_id = old.customer_id"
    )
    for kept in KEPT:  # ... and the rows taken over join them
        await conn.execute(kept.adjust_sql(_CAUGHT_UP.format(table=TABLE), 1))
    lap("catch_up")
    # The score cells and buckets become the next table's, and its writes keep them from here.
    for kept in KEPT:
        for statement in (*kept.replace_sql(), *kept.trigger_sql(NEXT)):
            await conn.execute(statement)
    lap("score_cells")
    # Before the DROP: from it to the commit readers wait too.
    counts = await record(session, conn, as_of=as_of, cause="batch", events_per_message=events_per_message)
    lap("history_and_events")
    await conn.execute(f"DROP TABLE {TABLE}")
    await conn.execute(f"ALTER TABLE {NEXT} RENAME TO {TABLE}")
    await conn.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT pk_{TABLE} PRIMARY KEY USING INDEX {TABLE}_pk_next")
    for name, _ in _index_ddl():
        await conn.execute(f"ALTER INDEX {name}_next RENAME TO {name}")
    lap("swap")
    return WriteResult(built.inserted - int(overtaken.split()[-1]), *counts)
