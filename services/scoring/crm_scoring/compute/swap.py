"""The batch's write: a whole new `customer_scores` built beside the old one and swapped in.

Upserting a million rows into a table with ten indexes costs ten times writing them into a bare table and
building the indexes afterwards (measured: 33-53 s against 3-7 s plus the builds). So the batch builds
`customer_scores_next` while events go on writing the old table, and only then locks writers out, brings the
next table up to date with what events wrote meanwhile, and swaps the tables (`swap_in`): a lock of about a
second, which event handlers wait out.

The next table is built outside the batch's final transaction, in committed steps on several connections
(two by default), so the server's backends share the work (`fill_next`, `index_next`, `vacuum_next`): nobody
reads it under its name, a failed run drops it (or the next run does), and readers see the new scores only
when the final transaction swaps it in. What the old design joined for on the server (whether the stage changed,
which rows may have changed, which live rows no batch row replaces) the batch decides from the live rows
its read saw (compute/prior.py); only the rows that may have changed go through the exact diff (`diff_next`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.db import driver_connection

from ..base import Base
from ..distributions.buckets import BUCKETS
from ..distributions.cells import CELLS
from ..purchases.models import KnownCustomer
from ..rules.schemas import Rules
from ..scores.models import CustomerScore
from .binary_copy import copy_in
from .stored import Context, copy_rows
from .timing import stopwatch
from .write import DIFF_COLUMNS, SCORE_COLUMNS, WriteResult, changed_sql, create_diff_tables, record

TABLE = CustomerScore.__tablename__
NEXT = f"{TABLE}_next"
KEPT = (CELLS, BUCKETS)  # tables kept by triggers on the scores (distributions/kept.py)
# What each connection building indexes runs with: this much sort memory, and no parallel workers for the
# builds nor the kept tables' aggregations (the connections already keep the server's cores busy, and workers
# would only contend with them).
INDEX_SETTINGS = {
    "maintenance_work_mem": "256MB",
    "max_parallel_maintenance_workers": "0",
    "max_parallel_workers_per_gather": "0",
}
_ID = (("customer_id", "uuid"),)
LEFTOVER_WAIT = "5s"


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
    inserted: int  # rows written from the batch's scores
    carried: np.ndarray  # the ids of the live rows no batch row replaces


async def drop_next(conn: asyncpg.Connection) -> None:
    """A failed run's next table and scratch tables, dropped at once (in one transaction) rather than by the
    next run (at 1M scores ~700 MB of disk). Waits at most LEFTOVER_WAIT for a lock a build statement still
    being cancelled holds; the next run's `create_next` drops what is left."""
    async with conn.transaction():  # SET LOCAL: the pooled connection keeps no timeout of ours
        await conn.execute(f"SET LOCAL lock_timeout = '{LEFTOVER_WAIT}'")
        for table in (NEXT, *(kept.staged for kept in KEPT)):
            await conn.execute(f"DROP TABLE IF EXISTS {table}")


async def create_next(conn: asyncpg.Connection) -> None:
    """An empty next table (a leftover of a failed run is dropped), committed: `conn` in autocommit."""
    await conn.execute(f"DROP TABLE IF EXISTS {NEXT}")
    await conn.execute(
        f"CREATE TABLE {NEXT} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED)"
    )


async def fill_next(
    conns: Sequence[asyncpg.Connection],
    scored: dict[str, np.ndarray],
    context: Context,
    *,
    copy_chunk: int = 100_000,
    timings: dict[str, float] | None = None,
) -> int:
    """The batch's rows in their stored forms (compute/stored.py) into the next table, a contiguous part per
    connection at once, each in a transaction of its own. `scored` holds `stage_since` (binary-timestamp
    microseconds, compute/prior.decide); `computed_at` is the part's transaction's start. `timings` gets the
    slowest part's seconds."""
    timings = {} if timings is None else timings
    edges = np.linspace(0, len(scored["customer_id"]), len(conns) + 1).astype(np.int64)

    async def part(conn: asyncpg.Connection, low: int, high: int) -> int:
        started = time.perf_counter()
        async with conn.transaction():
            await copy_rows(conn, NEXT, {k: v[low:high] for k, v in scored.items()}, context, copy_chunk=copy_chunk)
        _slowest(timings, "fill_copy", time.perf_counter() - started)
        return high - low

    counts = await _all(part(c, int(lo), int(hi)) for c, lo, hi in zip(conns, edges[:-1], edges[1:], strict=True))
    return sum(counts)


def _slowest(timings: dict[str, float], name: str, seconds: float) -> None:
    timings[name] = round(max(timings.get(name, 0.0), seconds), 3)


def _jobs() -> list[list[str]]:
    """index_next's jobs, longest first, so that the connections finish together (the queue hands each the
    next job as it finishes one; in the order widest index first, kept tables last, one connection ended
    ~0.7 s after the other at 1M scores). Costs, one backend each, measured at 1M scores: an index ~0.55 s plus
    ~0.15 s a column, the primary key (its rows arrive nearly in its order) ~0.3 s, the kept tables by their
    weight (the buckets' aggregation, a pass per measure with exact numeric sums: ~1.25 s)."""
    weighted = [(0.3, [f"CREATE UNIQUE INDEX {TABLE}_pk_next ON {NEXT} (customer_id)"])]
    weighted += [(0.55 + 0.15 * (ddl.count(",") + 1), [ddl]) for _, ddl in _index_ddl()]
    weighted += [(0.7 * kept.weight, kept.prepare_sql(NEXT)) for kept in KEPT]
    return [job for _, job in sorted(weighted, key=lambda w: -w[0])]


async def index_next(conns: Sequence[asyncpg.Connection]) -> None:
    """Every index of the live table on the next table, and the score cells and buckets aggregated from it
    (distributions/kept.py), shared out among the connections as each finishes its last job (`_jobs`)."""
    queue: asyncio.Queue[list[str]] = asyncio.Queue()
    for job in _jobs():
        queue.put_nowait(job)

    async def worker(conn: asyncpg.Connection) -> None:
        for name, value in INDEX_SETTINGS.items():
            await conn.execute(f"SET {name} = '{value}'")
        try:
            while not queue.empty():
                for statement in queue.get_nowait():
                    await conn.execute(statement)
        finally:
            for name in INDEX_SETTINGS:
                await conn.execute(f"RESET {name}")

    await _all(worker(c) for c in conns)


async def vacuum_next(conn: asyncpg.Connection) -> None:
    """VACUUM (ANALYZE) the filled and indexed next table (`conn` in autocommit). A new table has no page
    marked all-visible, so counts and charts would read every heap page instead of the index alone until
    autovacuum got to it: `count(*)` of a stage at 1M scores took 445 ms before, 41 ms after."""
    await conn.execute(f"VACUUM (ANALYZE) {NEXT}")


async def diff_next(conn: asyncpg.Connection, scored_ids: np.ndarray, *, rules: Rules, read_started: datetime) -> None:
    """The exact diff of the given batch rows against the live ones into `score_diffs`, in the caller's
    transaction (the rows others may have changed since the read are caught up by `swap_in`)."""
    await create_diff_tables(conn)
    await conn.execute("DROP TABLE IF EXISTS diffed")
    await conn.execute("CREATE TEMP TABLE diffed (customer_id uuid) ON COMMIT DROP")
    await copy_in(conn, "diffed", _ID, {"customer_id": scored_ids})
    await conn.execute("ANALYZE diffed")
    ch = rules.changes
    new_columns = ", ".join(f"n.{c}" for c in DIFF_COLUMNS.split(", "))
    await conn.execute(
        f"""
        INSERT INTO score_diffs
        SELECT {new_columns}, old.customer_id IS NOT NULL, old.stage, old.composite_score, old.clv, old.p_alive,
               {changed_sql("n", "old", 2)}
        FROM diffed d JOIN {NEXT} n ON n.customer_id = d.customer_id
        LEFT JOIN {TABLE} old ON old.customer_id = n.customer_id
        WHERE old.customer_id IS NULL OR old.computed_at < $1
        """,
        read_started,
        ch.composite_points,
        ch.clv_relative,
        ch.p_alive,
    )


async def _all(tasks: Any) -> list[Any]:
    """Run the coroutines at once; the first failure cancels the others (no connection left mid-statement)."""
    try:
        async with asyncio.TaskGroup() as group:
            running = [group.create_task(t) for t in tasks]
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [t.result() for t in running]


# The customers whose live row the next table takes: rescored by an event since the batch's read started
# (stamped later, see read_barrier), merged into another customer (row deleted), or not scored by the batch
# (`carried`: e.g. a prospect known after as_of).
_CATCH_UP_SQL = f"""
CREATE TEMP TABLE caught_up ON COMMIT DROP AS
SELECT customer_id FROM {TABLE} WHERE computed_at >= $1
UNION
SELECT customer_id FROM {KnownCustomer.__tablename__} WHERE merged_into IS NOT NULL
UNION
SELECT customer_id FROM carried
"""


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
    """Lock writers out, take over what they wrote since the batch's read and the live rows it did not score,
    swap the tables, and record the history and the events of the batch's own changes (`diff_next`)."""
    lap = stopwatch({} if timings is None else timings)
    conn = await driver_connection(session)
    await conn.execute("DROP TABLE IF EXISTS carried")
    await conn.execute("CREATE TEMP TABLE carried (customer_id uuid) ON COMMIT DROP")
    await copy_in(conn, "carried", _ID, {"customer_id": built.carried})
    # Writers wait from here to the commit (event handlers allow for it: write.SWAP_WAIT); readers only from
    # the DROP, the last statements.
    await conn.execute(f"LOCK TABLE {TABLE} IN EXCLUSIVE MODE")
    await conn.execute("DROP TABLE IF EXISTS caught_up")
    await conn.execute(_CATCH_UP_SQL, read_started)
    for kept in KEPT:  # the rows the catch-up replaces leave the prepared cells and buckets...
        await conn.execute(kept.adjust_sql(_CAUGHT_UP.format(table=NEXT), -1))
    # The next table holds only the batch's rows until here: what this deletes was overtaken.
    overtaken = await conn.execute(f"DELETE FROM {NEXT} n USING caught_up c WHERE n.customer_id = c.customer_id")
    await conn.execute("DELETE FROM score_diffs d USING caught_up c WHERE d.customer_id = c.customer_id")
    await conn.execute(  # the columns named: the generated ones are computed again
        f"INSERT INTO {NEXT} ({SCORE_COLUMNS}) SELECT {', '.join(f'old.{c}' for c in SCORE_COLUMNS.split(', '))} "
        f"FROM {TABLE} old JOIN caught_up c ON c.customer_id = old.customer_id"
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
