"""Batch recompute endpoints: start a run (202, then poll it), list and read runs and a backtest's kept copy.
Thin handlers; the rules live in service.py."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from crm_shared import ndjson
from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.pagination import Page, PageDep

from ..scores.schemas import ScoreCount, ScoreExportQueryDep, ScoreFiltersQuery, ScoreListQueryDep, list_page
from . import service, snapshot
from .schemas import RecomputeRequest, RunRead, RunScoreListItem, RunScoreRead

router = APIRouter(prefix="/api/v1/scores", tags=["batch"])
READ, WRITE = "scores:read", "scores:write"
RunId = Annotated[int, Path(ge=1, le=2**31 - 1)]


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
    data: RecomputeRequest, request: Request, principal: Annotated[Principal, allow(WRITE)]
) -> Response:
    """Recompute every customer's scores as of a date: refit the models, re-cut RFM/ABC/gold, score, write back,
    record this month's membership points. A past as_of is a backtest: the live scores stay as they are, and
    the predictions are compared with the purchases made in (as_of, until]. Answers 202 at once; poll the
    Location for progress."""
    run = await service.recompute(request.app.state, data, requested_by=principal.client_id)
    body = RunRead.model_validate(run).model_dump_json().encode()
    return Response(body, 202, media_type="application/json", headers={"Location": f"{router.prefix}/runs/{run.id}"})


@router.get("/runs", response_model=Page[RunRead])
async def list_runs(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    page: PageDep,
    status: Annotated[str | None, Query(pattern="^(running|succeeded|failed)$")] = None,
) -> Page[RunRead]:
    """Batch runs, newest first."""
    return await service.list_runs(session, page, status=status)


@router.get("/runs/{run_id}", response_model=RunRead)
async def get_run(run_id: RunId, session: ReadSessionDep, principal: Annotated[Principal, allow(READ)]) -> RunRead:
    """One run, with its phase, progress and (when done) timings and counts."""
    return RunRead.model_validate(await service.get_run(session, run_id))


@router.get("/runs/{run_id}/customers", response_model=Page[RunScoreListItem])
async def list_run_scores(
    run_id: RunId,
    request: Request,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    query: ScoreListQueryDep,
) -> Page[RunScoreListItem]:
    """The customers of a backtest's copy, with the same filters, sorts and pages as the live list (what a
    segment would have been as of the run's date), each with its expected purchases per run horizon and its
    expected spend: one page of up to 1,000 customers instead of one read per customer."""
    return await service.list_run_scores(session, run_id, query, list_page(request, query))


@router.get("/runs/{run_id}/customers/export", response_class=StreamingResponse, responses=ndjson.RESPONSES)
async def export_run_scores(
    run_id: RunId,
    request: Request,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    query: ScoreExportQueryDep,
) -> StreamingResponse:
    """A backtest's copy streamed as NDJSON (one list item per line, with expected purchases per run horizon
    and expected spend), filtered like the list, by customer id; resume with `after` = the last line's
    `customer_id`."""
    run = await service.run_with_copies(session, run_id)
    return ndjson.response(snapshot.export(request.app.state.read_sessionmaker, run, query, query.after))


@router.get("/runs/{run_id}/customers/count", response_model=ScoreCount)
async def count_run_scores(
    run_id: RunId, session: ReadSessionDep, principal: Annotated[Principal, allow(READ)], filters: ScoreFiltersQuery
) -> ScoreCount:
    """How many customers of a backtest's copy the filters select."""
    return ScoreCount(count=await service.count_run_scores(session, run_id, filters))


@router.get("/runs/{run_id}/customers/{customer_id:uuid}", response_model=RunScoreRead)
async def get_run_score(
    run_id: RunId, customer_id: uuid.UUID, session: ReadSessionDep, principal: Annotated[Principal, allow(READ)]
) -> RunScoreRead:
    """One customer's scores as the backtest computed them."""
    return await service.get_run_score(session, run_id, customer_id)


@router.delete("/runs/{run_id}/customers", status_code=204, response_class=Response)
async def delete_run_scores(
    run_id: RunId, session: SessionDep, principal: Annotated[Principal, allow(WRITE)]
) -> Response:
    """Delete a backtest's copy of the scores (the run and its stats stay)."""
    await service.drop_run_scores(session, run_id)
    return Response(status_code=204)
