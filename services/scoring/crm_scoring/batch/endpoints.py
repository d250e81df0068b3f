"""Batch recompute endpoints: start a run (202, then poll it), list and read runs."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import select

from crm_shared.auth import PrincipalDep
from crm_shared.db import ReadSessionDep
from crm_shared.errors import Conflict, FieldError, NotFound, Unprocessable
from crm_shared.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page, decode_cursor, encode_cursor

from .models import BatchRun
from .runner import CLOCK_SLACK, BatchAlreadyRunning, run_batch, start_run
from .schemas import RecomputeRequest, RunRead

router = APIRouter(prefix="/api/v1/scores", tags=["batch"])
log = logging.getLogger("crm.scoring.batch")


@router.post(
    "/recompute",
    status_code=202,
    response_model=RunRead,
    responses={
        409: {"description": "a run is already running"},
        422: {"description": "as_of in the future, or a stored run for a past as_of"},
    },
)
async def recompute(data: RecomputeRequest, request: Request, principal: PrincipalDep) -> Response:
    """Recompute every customer's scores as of a date: refit the models, re-cut RFM/ABC/gold, score, write back,
    record this month's membership points. A past as_of is a backtest: the live scores stay as they are.
    Answers 202 at once; poll the Location for progress."""
    principal.require("scores:write")
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
    app = request.app
    try:
        run_id = await start_run(app.state.engine, as_of=as_of, refit=data.refit, requested_by=principal.client_id)
    except BatchAlreadyRunning as exc:
        raise Conflict(
            f"batch run {exc.run_id} is still running", headers={"Retry-After": "30"}, running_run_id=exc.run_id
        ) from None
    task = asyncio.create_task(
        run_batch(app.state.engine, app.state.settings, as_of=as_of, refit=data.refit, store=store, run_id=run_id)
    )
    tasks: set[asyncio.Task[object]] = app.state.__dict__.setdefault("batch_tasks", set())
    tasks.add(task)
    task.add_done_callback(_forget(tasks))
    async with app.state.read_sessionmaker() as session:
        run = await session.get(BatchRun, run_id)
    body = RunRead.model_validate(run).model_dump_json().encode()
    return Response(body, 202, media_type="application/json", headers={"Location": f"{router.prefix}/runs/{run_id}"})


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
    principal: PrincipalDep,
    status: Annotated[str | None, Query(pattern="^(running|succeeded|failed)$")] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Page[RunRead]:
    """Batch runs, newest first."""
    principal.require("scores:read")
    secret = request.app.state.settings.cursor_secret.get_secret_value()
    filters = {"status": status}
    query = select(BatchRun).order_by(BatchRun.id.desc()).limit(limit + 1)
    if status is not None:
        query = query.where(BatchRun.status == status)
    if cursor is not None:
        (after,) = decode_cursor(cursor, filters, secret)
        query = query.where(BatchRun.id < int(after))
    rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor([rows[-1].id], filters, secret) if more else None
    return Page[RunRead](items=[RunRead.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/runs/{run_id}", response_model=RunRead)
async def get_run(run_id: Annotated[int, Path(ge=1)], session: ReadSessionDep, principal: PrincipalDep) -> RunRead:
    """One run, with its phase, progress and (when done) timings and counts."""
    principal.require("scores:read")
    run = await session.get(BatchRun, run_id)
    if run is None:
        raise NotFound(f"no batch run {run_id}")
    return RunRead.model_validate(run)
