"""Batch recompute endpoints: start a run (202, then poll it), list and read runs."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import ColumnElement, Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.errors import Conflict, FieldError, NotFound, Unprocessable
from crm_shared.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page, decode_cursor, encode_cursor

from ..scores import service as scores_service
from ..scores.schemas import ScoreCount, ScoreFiltersQuery, ScoreListQueryDep
from . import snapshot
from .models import BatchRun, RunScore
from .runner import CLOCK_SLACK, BatchAlreadyRunning, run_batch, start_run
from .schemas import RecomputeRequest, RunRead, RunScoreListItem, RunScoreRead

router = APIRouter(prefix="/api/v1/scores", tags=["batch"])
log = logging.getLogger("crm.scoring.batch")


@router.post(
    "/recompute",
    status_code=202,
    response_model=RunRead,
    responses={
        409: {"description": "a run is already running"},
        422: {
            "description": "as_of in the future, a stored run for a past as_of, keep_scores, until or "
            "horizons_days for a run that stores, until not after as_of or in the future"
        },
    },
)
async def recompute(
    data: RecomputeRequest, request: Request, principal: Annotated[Principal, allow("scores:write")]
) -> Response:
    """Recompute every customer's scores as of a date: refit the models, re-cut RFM/ABC/gold, score, write back,
    record this month's membership points. A past as_of is a backtest: the live scores stay as they are, and
    the predictions are compared with the purchases made in (as_of, until]. Answers 202 at once; poll the
    Location for progress."""
    now = datetime.now(UTC)
    as_of = data.as_of or now
    if as_of > now + CLOCK_SLACK:
        raise Unprocessable(
            "as_of is in the future", errors=[FieldError(detail="must not be in the future", pointer="#/as_of")]
        )
    past = as_of < now - CLOCK_SLACK
    if data.store and past:
        # Live scores as of a past day would hide every order since and publish stage changes that are
        # history, not news, to the services acting on them.
        raise Unprocessable(
            "only a run as of now can replace the live scores",
            errors=[FieldError(detail="must be false (a backtest) for a past as_of", pointer="#/store")],
        )
    store = not past if data.store is None else data.store
    backtest_only = {
        "keep_scores": (data.keep_scores, "only a backtest keeps a copy of the scores"),
        "until": (data.until, "only a backtest has a window to compare its predictions with"),
        "horizons_days": (data.horizons_days, "only a backtest takes its own horizons (live scores use the rules')"),
    }
    for name, (value, title) in backtest_only.items():
        if value and store:
            raise Unprocessable(
                title,
                errors=[FieldError(detail="needs a backtest (a past as_of, or store: false)", pointer=f"#/{name}")],
            )
    if data.until is not None:
        _check_window(as_of, data.until, now)
    app = request.app
    try:
        run_id = await start_run(
            app.state.engine, as_of=as_of, refit=data.refit, requested_by=principal.client_id, store=store
        )
    except BatchAlreadyRunning as exc:
        raise Conflict(
            f"batch run {exc.run_id} is still running", headers={"Retry-After": "30"}, running_run_id=exc.run_id
        ) from None
    task = asyncio.create_task(
        run_batch(
            app.state.engine,
            app.state.settings,
            as_of=as_of,
            refit=data.refit,
            store=store,
            keep_scores=data.keep_scores,
            until=data.until,
            horizons_days=data.horizons_days,
            run_id=run_id,
        )
    )
    tasks: set[asyncio.Task[object]] = app.state.__dict__.setdefault("batch_tasks", set())
    tasks.add(task)
    task.add_done_callback(_forget(tasks))
    async with app.state.read_sessionmaker() as session:
        run = await session.get(BatchRun, run_id)
    body = RunRead.model_validate(run).model_dump_json().encode()
    return Response(body, 202, media_type="application/json", headers={"Location": f"{router.prefix}/runs/{run_id}"})


def _check_window(as_of: datetime, until: datetime, now: datetime) -> None:
    if until <= as_of:
        raise Unprocessable(
            "until must be after as_of", errors=[FieldError(detail="must be after as_of", pointer="#/until")]
        )
    if until > now + CLOCK_SLACK:
        raise Unprocessable(
            "until is in the future", errors=[FieldError(detail="must not be in the future", pointer="#/until")]
        )


def _forget(tasks: set[asyncio.Task[object]]):
    def done(task: asyncio.Task[object]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("batch run failed", exc_info=task.exception())

    return done


@router.get("/runs", response_model=Page[RunRead])
async def list_runs(
    request: Request,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("scores:read")],
    status: Annotated[str | None, Query(pattern="^(running|succeeded|failed)$")] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Page[RunRead]:
    """Batch runs, newest first."""
    secret = request.app.state.settings.cursor_secret.get_secret_value()
    filters = {"status": status}
    query = select(BatchRun).order_by(BatchRun.id.desc()).limit(limit + 1)
    if status is not None:
        query = query.where(BatchRun.status == status)
    if cursor is not None:
        (after,) = decode_cursor(cursor, filters, secret, shape=(int,))
        query = query.where(BatchRun.id < after)
    rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor([rows[-1].id], filters, secret) if more else None
    return Page[RunRead](items=[RunRead.model_validate(r) for r in rows], next_cursor=next_cursor)


RunId = Annotated[int, Path(ge=1, le=2**31 - 1)]
RUN_LIST_FIELDS = ("expected_purchases", "expected_spend")  # beside the live list's fields


@router.get("/runs/{run_id}", response_model=RunRead)
async def get_run(
    run_id: RunId, session: ReadSessionDep, principal: Annotated[Principal, allow("scores:read")]
) -> RunRead:
    """One run, with its phase, progress and (when done) timings and counts."""
    run = await session.get(BatchRun, run_id)
    if run is None:
        raise NotFound(f"no batch run {run_id}")
    return RunRead.model_validate(run)


async def _run_with_copies(session: AsyncSession, run_id: int) -> BatchRun:
    run = await session.get(BatchRun, run_id)
    if run is None:
        raise NotFound(f"no batch run {run_id}")
    if not run.kept_scores:
        raise NotFound(f"batch run {run_id} kept no copy of the scores (a backtest with keep_scores keeps one)")
    return run


def _in_run(run_id: int) -> list[ColumnElement[bool]]:
    return [RunScore.run_id == run_id]


@router.get("/runs/{run_id}/customers", response_model=Page[RunScoreListItem])
async def list_run_scores(
    run_id: RunId,
    request: Request,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("scores:read")],
    query: ScoreListQueryDep,
) -> Page[RunScoreListItem]:
    """The customers of a backtest's copy, with the same filters, sorts and pages as the live list (what a
    segment would have been as of the run's date), each with its expected purchases per run horizon and its
    expected spend: one page of up to 1,000 customers instead of one read per customer."""
    run = await _run_with_copies(session, run_id)
    secret = request.app.state.settings.cursor_secret.get_secret_value()
    horizons = run.stats.get("horizons_days", [])

    def item(row: Row[Any]) -> RunScoreListItem:
        expected = scores_service.per_horizon(horizons, row.expected_purchases)
        return RunScoreListItem.model_validate({**row._mapping, "expected_purchases": expected})

    items, next_cursor = await scores_service.list_scores(
        session,
        query,
        secret=secret,
        model=RunScore,
        scope=_in_run(run_id),
        bound_to={"run": run_id},
        extra_fields=RUN_LIST_FIELDS,
        to_item=item,
    )
    return Page[RunScoreListItem](items=items, next_cursor=next_cursor)


@router.get("/runs/{run_id}/customers/count", response_model=ScoreCount)
async def count_run_scores(
    run_id: RunId,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("scores:read")],
    filters: ScoreFiltersQuery,
) -> ScoreCount:
    """How many customers of a backtest's copy the filters select."""
    await _run_with_copies(session, run_id)
    count = await scores_service.count_scores(session, filters, model=RunScore, scope=_in_run(run_id))
    return ScoreCount(count=count)


@router.get("/runs/{run_id}/customers/{customer_id:uuid}", response_model=RunScoreRead)
async def get_run_score(
    run_id: RunId,
    customer_id: uuid.UUID,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("scores:read")],
) -> RunScoreRead:
    """One customer's scores as the backtest computed them."""
    run = await _run_with_copies(session, run_id)
    row = await snapshot.get(session, run_id, customer_id)
    if row is None:
        raise NotFound(f"customer {customer_id} is not in batch run {run_id}'s copy (not known as of its date)")
    fields = {c: getattr(row, c) for c in RunScoreRead.model_fields if c != "expected_purchases"}
    expected = scores_service.per_horizon(run.stats.get("horizons_days", []), row.expected_purchases)
    return RunScoreRead.model_validate({**fields, "expected_purchases": expected})


@router.delete("/runs/{run_id}/customers", status_code=204, response_class=Response)
async def delete_run_scores(
    run_id: RunId, session: SessionDep, principal: Annotated[Principal, allow("scores:write")]
) -> Response:
    """Delete a backtest's copy of the scores (the run and its stats stay)."""
    run = await _run_with_copies(session, run_id)
    await snapshot.drop(session, run)
    return Response(status_code=204)
