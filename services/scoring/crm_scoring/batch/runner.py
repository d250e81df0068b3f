"""The batch recompute: read every customer's summary as of a date, refit the models, cut the base, score
everyone and swap the new scores in, with progress recorded on the run.

Phases and what runs where: `read` is a binary COPY of the netted orders over two connections in one
snapshot, aggregated in NumPy threads; `choose`, `fit` and `score` are NumPy/SciPy in worker threads (the
service keeps serving meanwhile), while the snapshot's live scores and month's points are read; `write`
builds a new scores table beside the live one on two connections and swaps it in, with the run's calibration,
history and points, in one short final transaction (compute/swap). Customers rescored by an event after the
read started keep their newer scores (compute/read_barrier).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import msgspec
import numpy as np
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crm_shared.db import asyncpg_connection, create_sessionmaker, driver_connection
from crm_shared.events import new_event
from crm_shared.outbox import publish

from ..compute.binary_copy import binary_timestamp
from ..compute.fitting import fit_to_json
from ..compute.prior import Prior, decide, read_prior
from ..compute.read_barrier import mark_read_start
from ..compute.score import Calibration, cut_and_score
from ..compute.state import ScoringState, load_state
from ..compute.stored import Context
from ..compute.summary import Summaries, read_summaries, share_snapshot
from ..compute.swap import (
    Built,
    create_next,
    diff_next,
    drop_next,
    fill_next,
    index_next,
    swap_in,
    vacuum_next,
)
from ..compute.timing import stopwatch
from ..compute.write import SOURCE
from ..config import Settings
from ..points.monthly import month_of, read_month, write_month
from ..rules.schemas import check_horizons
from ..scores.models import STAGES
from ..selection import classifier as churn_classifier
from ..selection.calibrate import fit_and_choose
from . import prewarm, snapshot
from .backtest import distribution, evaluate
from .memory import map_large_allocations, trim_heap

log = logging.getLogger("crm.scoring.batch")
Result = TypeVar("Result")
Progress = Callable[[str, float], None]
# A run whose heartbeat is older than this died with its process; it no longer blocks new runs.
STALE_AFTER_SECONDS = 600
WRITE_LOCK_TIMEOUT = "60s"
# Clock skew allowance for "as of now" sent by a client: older is a past date, which only backtests.
CLOCK_SLACK = timedelta(minutes=5)


class BatchAlreadyRunning(Exception):
    def __init__(self, run_id: int | None) -> None:
        super().__init__(f"batch run {run_id} is still running")
        self.run_id = run_id


@dataclass
class BatchResult:
    run_id: int
    stats: dict[str, Any] = field(default_factory=dict)


async def start_run(
    engine: AsyncEngine, *, as_of: datetime, refit: bool, requested_by: str | None, store: bool = True
) -> int:
    """Record a new running run; BatchAlreadyRunning if one is (a stale one is marked failed first)."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE batch_runs SET status = 'failed', finished_at = clock_timestamp(), "
                "error = 'abandoned: no progress for ' || :secs || ' s (its process stopped)' "
                "WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => :secs)"
            ),
            {"secs": STALE_AFTER_SECONDS},
        )
    try:
        async with engine.begin() as conn:
            return int(
                await conn.scalar(
                    text(
                        "INSERT INTO batch_runs (as_of, refit, stored, status, phase, requested_by, started_at) "
                        "VALUES (:as_of, :refit, :stored, 'running', 'starting', :by, now()) RETURNING id"
                    ),
                    {"as_of": as_of, "refit": refit, "stored": store, "by": requested_by},
                )
            )
    except IntegrityError:
        async with engine.connect() as conn:
            running = await conn.scalar(text("SELECT id FROM batch_runs WHERE status = 'running'"))
        raise BatchAlreadyRunning(running) from None


async def _report(engine: AsyncEngine, run_id: int, phase: str, progress: float, stats: dict[str, Any]) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE batch_runs SET phase = :phase, progress = :progress, stats = CAST(:stats AS jsonb), "
                "heartbeat_at = now() WHERE id = :id"
            ),
            {"phase": phase, "progress": progress, "stats": _json(stats), "id": run_id},
        )


def _json(value: Any) -> str:
    return msgspec.json.encode(value, enc_hook=_plain).decode()


def _plain(value: Any) -> Any:
    """NumPy scalars in stats (counts, sums) as Python numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


async def _finish_failed(engine: AsyncEngine, run_id: int, error: str, stats: dict[str, Any]) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE batch_runs SET status = 'failed', error = :error, finished_at = clock_timestamp(), "
                "stats = CAST(:stats AS jsonb), heartbeat_at = now() WHERE id = :id"
            ),
            {"error": error[:2000], "stats": _json(stats), "id": run_id},
        )


def _compute(
    summaries: Summaries,
    split: list[Summaries],
    state: ScoringState,
    refit: bool,
    timings: dict[str, float],
    store: bool,
    chosen: Callable[[], object] = lambda: None,
) -> tuple[Calibration, dict[str, Any], list[str]]:
    """Fit (or keep the current fits), cut the base and score it: the CPU-bound part, run in a thread.
    `split`: the earlier split (`Summaries.earlier`) in a list the choice takes it out of, so it is freed once
    the choice is made, before the scores are (~180 MB at 1M: it made the batch's peak of memory). `chosen` is
    called once the fits are made, before the scoring."""
    notes: list[str] = []
    selection, classifier = state.calibration.selection, state.calibration.classifier
    if refit:
        # The live fits, the split's fits, the classifier and the candidates overlap in threads (sets timings
        # "choose" and "fit"; selection/calibrate.py).
        fitted = fit_and_choose(
            summaries, state.calibration.fits, state.rules, store=store, timings=timings, split=split
        )
        fits, notes = fitted.fits, fitted.notes
        if fitted.choice is not None:
            selection, classifier = fitted.choice.selection, fitted.choice.classifier
        else:
            selection, classifier = None, None
    else:
        t = time.perf_counter()
        fits = dict(state.calibration.fits)
        if not fits:
            notes.append("no current fits to keep: CLV stays empty until a run with refit")
        timings["fit"] = time.perf_counter() - t
    chosen()
    trim_heap()  # what the fits, the classifier and the split freed in the threads' malloc arenas
    t = time.perf_counter()
    # The model outputs are computed in a thread while the base is cut (compute/score.cut_and_score).
    cal, scored = cut_and_score(
        summaries, state.rules, state.formula_version, state.formula, fits, selection, classifier
    )
    timings["score"] = time.perf_counter() - t
    return cal, scored, notes


def _after(thread: threading.Thread | None, job: Callable[..., Result], *args: Any) -> Result:
    """`job(*args)` once `thread` is done (the prewarmed imports)."""
    if thread is not None:
        thread.join()
    return job(*args)


async def _build(
    engine: AsyncEngine,
    *,
    as_of: datetime,
    state: ScoringState,
    scored: dict[str, Any],
    prior: Prior,
    settings: Settings,
    write_steps: dict[str, float],
    while_indexing: Callable[[], Result],
) -> tuple[int, Built, np.ndarray, Result]:
    """The next scores table, filled and indexed on several connections in committed steps of their own
    (compute/swap.py). Returns the calibration id reserved for the run, what was built, the positions of
    the batch's rows that go through the diff, and `while_indexing()`: run in a thread while the server builds
    the indexes, the seconds this process would otherwise only wait."""
    lap = stopwatch(write_steps)
    since, diffed, carried = decide(scored, prior, binary_timestamp(as_of), state.rules.changes)
    lap("decide")
    async with contextlib.AsyncExitStack() as stack:
        conns = [
            await asyncpg_connection(
                await (await stack.enter_async_context(engine.connect())).execution_options(
                    isolation_level="AUTOCOMMIT"
                )
            )
            for _ in range(settings.batch_write_connections)
        ]
        main = conns[0]
        # Reserved, not inserted: the calibration becomes current with the swap's commit, not before.
        calibration_id = int(await main.fetchval("SELECT nextval(pg_get_serial_sequence('calibrations', 'id'))"))
        await create_next(main)
        context = Context(binary_timestamp(as_of), calibration_id, state.segment_names, state.rules)
        inserted = await fill_next(
            conns, {**scored, **since}, context, copy_chunk=settings.batch_write_chunk, timings=write_steps
        )
        lap("fill")
        aside = asyncio.ensure_future(asyncio.to_thread(while_indexing))
        try:
            await index_next(conns)
        except BaseException:
            await asyncio.wait([aside])  # nothing left running behind a failed build
            raise
        lap("indexes")
        await vacuum_next(main)
        lap("vacuum")
    return calibration_id, Built(inserted, prior.columns["customer_id"][carried]), diffed, await aside


async def _write(
    session: AsyncSession,
    *,
    run_id: int,
    as_of: datetime,
    refit: bool,
    read_started: datetime,
    state: ScoringState,
    cal: Calibration,
    scored: dict[str, Any],
    calibration_id: int,
    built: Built,
    diffed: np.ndarray,
    recorded: dict[str, np.ndarray],
    classifier: bytes | None,
    settings: Settings,
    write_steps: dict[str, float],
) -> dict[str, int]:
    """The run's final transaction: its calibration (`classifier`: its churn classifier serialized), the diff,
    the month's points and the swap."""
    lap = stopwatch(write_steps)
    conn = await driver_connection(session)
    await conn.execute(f"SET LOCAL lock_timeout = '{WRITE_LOCK_TIMEOUT}'")
    await conn.execute(
        "INSERT INTO calibrations (id, as_of, run_id, fits, cuts, rules, selection, churn_classifier) "
        "VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6::jsonb, $7::jsonb, $8)",
        calibration_id,
        as_of,
        run_id,
        _json({name: fit_to_json(f) for name, f in cal.fits.items()}),
        _json(cal.cuts),
        state.rules.model_dump_json(),
        None if cal.selection is None else _json(cal.selection.to_json()),
        classifier,
    )
    await diff_next(conn, scored["customer_id"][diffed], rules=state.rules, read_started=read_started)
    lap("diff")
    ledger = await write_month(conn, month_of(as_of), run_id, scored, recorded)  # before the lock
    lap("ledger")
    result = await swap_in(
        session,
        built,
        as_of=as_of,
        read_started=read_started,
        events_per_message=settings.batch_events_per_message,
        timings=write_steps,
    )
    data = {
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "customers": len(scored["customer_id"]),
        "calibration_id": calibration_id,
        "refit": refit,
    }
    await publish(session, [new_event("scores.recomputed", source=SOURCE, subject=None, data=data)])
    return {
        "calibration_id": calibration_id,
        "written": result.written,
        "skipped_newer": len(scored["customer_id"]) - result.written,
        "stage_changes": result.stage_changes,
        "score_changes": result.score_changes,
        "events": result.events,
        "ledger_rows": int(ledger),
    }


async def _backtest(
    sessionmaker: Any,
    then: Summaries,
    scored: dict[str, Any],
    cal: Calibration,
    state: ScoringState,
    stats: dict[str, Any],
    progress: Callable[[str, float], Any],
    until: datetime | None,
) -> None:
    """For a past as_of: what customers did in (as_of, until], against what was predicted for that same window.
    `until` defaults to the last order known: for a history that ended long ago, counting to now would compare
    predictions over years with the purchases of its last months."""
    await progress("backtest", 0.6)
    t = time.perf_counter()
    async with sessionmaker() as session:
        conn = await driver_connection(session)
        if until is None:
            until = await conn.fetchval("SELECT max(ordered_at) FROM purchases")
        stats["until"] = None if until is None else until.isoformat()
        if until is None or then.day_of(until) - then.as_of_day < 1:
            if then.day_of(datetime.now(UTC)) > then.as_of_day:
                stats["notes"].append("backtest: no purchase day after as_of up to until, nothing to compare")
            await session.rollback()
            return
        later = await read_summaries(
            conn, until, trend_window_days=state.rules.clv.trend_window_days, tenant=state.rules.tenant
        )
        await session.rollback()
    stats["backtest"] = await asyncio.to_thread(evaluate, then, later, scored, cal, state.rules)
    stats["timings"]["backtest"] = time.perf_counter() - t


def _with_horizons(state: ScoringState, horizons_days: Sequence[int] | None) -> ScoringState:
    """The state with a backtest's own horizons in place of the clv rules' (the stored rules stay)."""
    if horizons_days is None:
        return state
    clv = state.rules.clv.model_copy(update={"horizons_days": check_horizons(list(horizons_days))})
    return dataclasses.replace(state, rules=state.rules.model_copy(update={"clv": clv}))


async def _repeatable_read(session: AsyncSession) -> asyncpg.Connection:
    """The session's connection in a REPEATABLE READ transaction (begun here, nothing run in it yet)."""
    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    return await driver_connection(session)


async def run_batch(
    engine: AsyncEngine,
    settings: Settings,
    *,
    as_of: datetime | None = None,
    refit: bool = True,
    store: bool = True,
    keep_scores: bool = False,
    until: datetime | None = None,
    horizons_days: Sequence[int] | None = None,
    requested_by: str | None = None,
    on_progress: Progress | None = None,
    run_id: int | None = None,
) -> BatchResult:
    """Recompute every customer's scores as of `as_of` (default now). Pass `run_id` when the run row was
    already created with `start_run` (the API does, to answer 202 at once).

    `store=False` is a backtest: nothing is written but the run's stats, which then hold every fit, the
    distribution of the scores and, for a past `as_of`, how each purchase model's predictions for (as_of,
    until] compare with what customers did in that window (`until`: default the last order known); with
    `keep_scores`, also a copy of every customer's scores (batch/snapshot). `horizons_days` replaces the clv
    rules' horizons for a backtest's expected purchases."""
    as_of = (as_of or datetime.now(UTC)).astimezone(UTC)
    map_large_allocations()
    # Only a refit's choice needs them after the read; a run without refit loads the current classifier (and
    # so imports them) before it reads: importing the same modules in two threads at once can deadlock.
    imports = prewarm.start() if refit else None
    if store and (keep_scores or until is not None or horizons_days is not None):
        raise ValueError("keep_scores, until and horizons_days are for backtests: a stored run's scores are live")
    if until is not None and until <= as_of:
        raise ValueError("until must be after as_of")
    if run_id is None:
        run_id = await start_run(engine, as_of=as_of, refit=refit, requested_by=requested_by, store=store)
    stats: dict[str, Any] = {"timings": {}, "stored": store}
    timings: dict[str, Any] = stats["timings"]
    sessionmaker = create_sessionmaker(engine, subscriptions=settings.subscribers)

    async def progress(phase: str, fraction: float) -> None:
        await _report(engine, run_id, phase, fraction, stats)
        if on_progress is not None:
            on_progress(phase, fraction)

    started = time.perf_counter()
    try:
        await progress("read", 0.0)
        t = time.perf_counter()
        async with sessionmaker() as session, session.begin():
            read_started = await mark_read_start(await driver_connection(session))
        # Two connections in one snapshot: half of the orders each (one backend per core on the server).
        async with sessionmaker() as session, sessionmaker() as second:
            conn, helper = await _repeatable_read(session), await _repeatable_read(second)
            await share_snapshot(conn, helper)
            # A refit chooses its own churn classifier: the current one is not loaded.
            state = _with_horizons(await load_state(session, classifier=not refit), horizons_days)
            # With a refit the run also chooses the churn signal, on the history split one horizon back.
            earlier = as_of - timedelta(days=state.rules.churn.horizon_days) if refit else None
            summaries = await read_summaries(
                conn,
                as_of,
                trend_window_days=state.rules.clv.trend_window_days,
                earlier=earlier,
                tenant=state.rules.tenant,
                helper=helper,
                timings=timings.setdefault("read_steps", {}),
            )
            timings["read"] = time.perf_counter() - t
            stats["customers"] = len(summaries)
            await progress("fit" if refit else "score", 0.25)
            split = [] if summaries.earlier is None else [summaries.earlier]
            summaries = dataclasses.replace(summaries, earlier=None)
            loop, chosen = asyncio.get_running_loop(), asyncio.Event()

            async def live_rows() -> tuple[Prior | None, dict[str, np.ndarray] | None]:
                """The live scores and the month's points as this snapshot has them (the write decides on the
                client from them: compute/prior, points/monthly), read while the base is scored: after the
                choice, whose split would otherwise be held beside them (together ~1 GB at 1M)."""
                if not store:
                    return None, None
                await chosen.wait()
                return await asyncio.gather(read_prior(conn, state.segment_names), read_month(helper, month_of(as_of)))

            async with asyncio.TaskGroup() as group:  # a failure in either cancels the other
                computed = group.create_task(
                    asyncio.to_thread(
                        _after,
                        imports,
                        _compute,
                        summaries,
                        split,
                        state,
                        refit,
                        timings,
                        store,
                        lambda: loop.call_soon_threadsafe(chosen.set),
                    )
                )
                read = group.create_task(live_rows())
            (cal, scored, notes), (prior, recorded) = computed.result(), read.result()
            await session.rollback()
            await second.rollback()
        stats["notes"] = notes
        stats["money"] = summaries.money_notes()
        if stats["money"]["unconverted_orders"]:
            notes.append(
                f"{stats['money']['unconverted_orders']} orders of {stats['money']['unconverted_customers']} customers "
                f"have no rate to {stats['money']['reporting_currency']}: counted as purchases, not as spend "
                "(load rates under /api/v1/scores/currency-rates)"
            )
        stats["fits"] = {name: fit_to_json(f) for name, f in cal.fits.items()}
        stats["selection"] = None if cal.selection is None else cal.selection.to_json()
        stats["horizons_days"] = list(state.rules.clv.horizons_days)  # what expected_purchases are for
        stats.update(distribution(scored, STAGES))
        if not store:
            await _backtest(sessionmaker, summaries, scored, cal, state, stats, progress, until)
        else:
            await progress("write", 0.6)
        t = time.perf_counter()
        write_steps: dict[str, float] = timings.setdefault("write_steps", {}) if store else {}
        if prior is not None:
            fitted = cal.classifier
            calibration_id, built, diffed, classifier = await _build(
                engine,
                as_of=as_of,
                state=state,
                scored=scored,
                prior=prior,
                settings=settings,
                write_steps=write_steps,
                # ~0.5 s (skops imports every scikit-learn estimator to know them), then ~0.1 s per classifier
                while_indexing=lambda: None if fitted is None else churn_classifier.dumps(fitted),
            )
            prior = None
        async with sessionmaker() as session, session.begin():
            if store:
                stats.update(
                    await _write(
                        session,
                        run_id=run_id,
                        as_of=as_of,
                        refit=refit,
                        read_started=read_started,
                        state=state,
                        cal=cal,
                        scored=scored,
                        calibration_id=calibration_id,
                        built=built,
                        diffed=diffed,
                        recorded=recorded or {},
                        classifier=classifier,
                        settings=settings,
                        write_steps=write_steps,
                    )
                )
                timings["write"] = time.perf_counter() - t
            elif keep_scores:
                await progress("keep", 0.8)
                stats["kept_scores"] = await snapshot.keep(
                    session,
                    scored,
                    run_id=run_id,
                    rules=state.rules,
                    as_of=as_of,
                    segment_names=state.segment_names,
                    copy_chunk=settings.batch_write_chunk,
                )
                timings["keep"] = time.perf_counter() - t
            timings["total"] = time.perf_counter() - started
            # In the write's transaction: a run is "succeeded" exactly when its scores are in. clock_timestamp(),
            # not now(): now() is when this transaction began, before the write it holds.
            await (await driver_connection(session)).execute(
                "UPDATE batch_runs SET status = 'succeeded', phase = 'done', progress = 1, "
                "finished_at = clock_timestamp(), heartbeat_at = clock_timestamp(), calibration_id = $2, "
                "stats = $3::jsonb, kept_scores = $4 WHERE id = $1",
                run_id,
                stats.get("calibration_id"),
                _json(stats),
                "kept_scores" in stats,
            )
        if on_progress is not None:
            on_progress("done", 1.0)
        log.info("batch run %s done", run_id, extra={"stats": stats})
        return BatchResult(run_id, stats)
    except BaseException as exc:
        timings["total"] = time.perf_counter() - started
        await asyncio.shield(_finish_failed(engine, run_id, f"{type(exc).__name__}: {exc}", stats))
        if store:
            await asyncio.shield(_drop_leftovers(engine))
        raise


async def _drop_leftovers(engine: AsyncEngine) -> None:
    """A failed run's next scores table and scratch tables (compute/swap.drop_next); a failure to drop them is
    logged, and the next run drops them."""
    try:
        async with engine.connect() as connection:
            await drop_next(await asyncpg_connection(await connection.execution_options(isolation_level="AUTOCOMMIT")))
    except Exception:
        log.warning("could not drop the failed run's next scores table (the next run will)", exc_info=True)
