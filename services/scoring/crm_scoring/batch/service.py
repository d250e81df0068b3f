"""Batch-run rules: which recompute requests go together (a past as_of only backtests; backtest options
need a backtest), one run at a time, and the reads of a backtest's kept copy of the scores."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import State

from crm_shared.pagination import Page, PageRequest

from ..scores import service as scores_service
from ..scores.schemas import ScoreFilters, ScoreListQuery
from . import repository
from .exceptions import InvalidRunRequest, NoKeptScores, NotInRunCopy, RunNotFound, RunStillRunning
from .models import BatchRun, RunScore
from .runner import CLOCK_SLACK, BatchAlreadyRunning, run_batch, start_run
from .schemas import RecomputeRequest, RunRead, RunScoreListItem, RunScoreRead

log = logging.getLogger("crm.scoring.batch")
RUN_LIST_FIELDS = ("expected_purchases", "expected_spend")  # beside the live list's fields
# Options only a backtest takes, and why a run that stores refuses each.
BACKTEST_ONLY = {
    "keep_scores": "only a backtest keeps a copy of the scores",
    "until": "only a backtest has a window to compare its predictions with",
    "horizons_days": "only a backtest takes its own horizons (live scores use the rules')",
}


def resolve_store(data: RecomputeRequest, now: datetime) -> tuple[datetime, bool]:
    """The run's as_of and whether it replaces the live scores, or 422 naming the field to change."""
    as_of = data.as_of or now
    if as_of > now + CLOCK_SLACK:
        raise InvalidRunRequest("as_of is in the future", "as_of", "must not be in the future")
    past = as_of < now - CLOCK_SLACK
    if data.store and past:
        # Live scores as of a past day would hide every order since and publish stage changes that are
        # history, not news, to the services acting on them.
        raise InvalidRunRequest(
            "only a run as of now can replace the live scores", "store", "must be false (a backtest) for a past as_of"
        )
    store = not past if data.store is None else data.store
    for name, title in BACKTEST_ONLY.items():
        if getattr(data, name) and store:
            raise InvalidRunRequest(title, name, "needs a backtest (a past as_of, or store: false)")
    if data.until is not None:
        if data.until <= as_of:
            raise InvalidRunRequest("until must be after as_of", "until", "must be after as_of")
        if data.until > now + CLOCK_SLACK:
            raise InvalidRunRequest("until is in the future", "until", "must not be in the future")
    return as_of, store


async def recompute(state: State, data: RecomputeRequest, *, requested_by: str) -> BatchRun:
    """Record a running run and start it in the background (the app keeps its task until it ends)."""
    as_of, store = resolve_store(data, datetime.now(UTC))
    try:
        run_id = await start_run(state.engine, as_of=as_of, refit=data.refit, requested_by=requested_by, store=store)
    except BatchAlreadyRunning as exc:
        raise RunStillRunning(exc.run_id) from None
    task = asyncio.create_task(
        run_batch(
            state.engine,
            state.settings,
            as_of=as_of,
            refit=data.refit,
            store=store,
            keep_scores=data.keep_scores,
            until=data.until,
            horizons_days=data.horizons_days,
            run_id=run_id,
        )
    )
    tasks: set[asyncio.Task[object]] = state.__dict__.setdefault("batch_tasks", set())
    tasks.add(task)
    task.add_done_callback(_forget(tasks))
    async with state.read_sessionmaker() as session:
        return await get_run(session, run_id)


def _forget(tasks: set[asyncio.Task[object]]) -> Callable[[asyncio.Task[object]], None]:
    def done(task: asyncio.Task[object]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("batch run failed", exc_info=task.exception())

    return done


async def get_run(session: AsyncSession, run_id: int) -> BatchRun:
    run = await repository.get_run(session, run_id)
    if run is None:
        raise RunNotFound(run_id)
    return run


async def run_with_copies(session: AsyncSession, run_id: int) -> BatchRun:
    """The run, when it kept a copy of every customer's scores."""
    run = await get_run(session, run_id)
    if not run.kept_scores:
        raise NoKeptScores(run_id)
    return run


async def list_runs(session: AsyncSession, page: PageRequest, *, status: str | None) -> Page[RunRead]:
    """Newest first."""
    stmt = repository.runs(status)
    return await page.fetch(
        session, stmt, order=[BatchRun.id.desc()], binding={"status": status}, item=RunRead.model_validate
    )


def _in_run(run_id: int) -> list[ColumnElement[bool]]:
    return [RunScore.run_id == run_id]


def _horizons(run: BatchRun) -> list[int]:
    return run.stats.get("horizons_days", [])


async def list_run_scores(session: AsyncSession, run_id: int, query: ScoreListQuery, page: PageRequest) -> Page[Any]:
    """A page of a backtest's copy, filtered, sorted and paged like the live list, with each row's expected
    purchases per run horizon and expected spend."""
    run = await run_with_copies(session, run_id)
    horizons = _horizons(run)

    def item(row: Row[Any]) -> RunScoreListItem:
        expected = scores_service.per_horizon(horizons, row.expected_purchases)
        return RunScoreListItem.model_validate({**row._mapping, "expected_purchases": expected})

    return await scores_service.list_scores(
        session,
        query,
        page,
        model=RunScore,
        scope=_in_run(run_id),
        bound_to={"run": run_id},
        extra_fields=RUN_LIST_FIELDS,
        to_item=item,
    )


async def count_run_scores(session: AsyncSession, run_id: int, filters: ScoreFilters) -> int:
    await run_with_copies(session, run_id)
    return await scores_service.count_scores(session, filters, model=RunScore, scope=_in_run(run_id))


async def get_run_score(session: AsyncSession, run_id: int, customer_id: uuid.UUID) -> RunScoreRead:
    run = await run_with_copies(session, run_id)
    row = await repository.get_run_score(session, run_id, customer_id)
    if row is None:
        raise NotInRunCopy(run_id, customer_id)
    fields = {c: getattr(row, c) for c in RunScoreRead.model_fields if c != "expected_purchases"}
    expected = scores_service.per_horizon(_horizons(run), row.expected_purchases)
    return RunScoreRead.model_validate({**fields, "expected_purchases": expected})


async def drop_run_scores(session: AsyncSession, run_id: int) -> None:
    """Delete a backtest's copy of the scores (the run and its stats stay)."""
    await repository.drop_run_scores(session, await run_with_copies(session, run_id))
