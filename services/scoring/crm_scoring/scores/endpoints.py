"""Score endpoints: thin handlers, the rules live in service.py."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from crm_shared import ndjson
from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep
from crm_shared.pagination import Page, PageDep

from . import service
from .schemas import (
    CustomerScores,
    ScoreChangeRead,
    ScoreCount,
    ScoreExplanation,
    ScoreExportQueryDep,
    ScoreFiltersQuery,
    ScoreListItem,
    ScoreListQueryDep,
    StageChangeRead,
    list_page,
)

SCOPE = "scores:read"
router = APIRouter(prefix="/api/v1/scores", tags=["scores"])


def _survivor_location(response: Response, asked: uuid.UUID, survivor: uuid.UUID, suffix: str = "") -> None:
    """A merged id answers with its survivor's data, which has its own address."""
    if survivor != asked:
        response.headers["Content-Location"] = f"{router.prefix}/customers/{survivor}{suffix}"


@router.get("/customers", response_model=Page[ScoreListItem])
async def list_scores(
    request: Request, session: ReadSessionDep, principal: Annotated[Principal, allow(SCOPE)], query: ScoreListQueryDep
) -> Page[ScoreListItem]:
    """Customers matching a segment's filters, as compact rows; keyset pagination with `limit` up to 1000
    (the campaign service pages through large segments). Sorted by CLV, highest first, by default; customers
    without a value for the sort key (no CLV before the first calibration) come last, by id."""
    return await service.list_scores(session, query, list_page(request, query))


@router.get("/customers/export", response_class=StreamingResponse, responses=ndjson.RESPONSES)
async def export_scores(
    request: Request, principal: Annotated[Principal, allow(SCOPE)], query: ScoreExportQueryDep
) -> StreamingResponse:
    """Every customer the filters select, streamed as NDJSON (one list item per line, with expected purchases
    and spend), by customer id: the list's rows without paging. Resume a cut download with `after` = the last
    line's `customer_id`."""
    return ndjson.response(service.export_lines(request.app.state.read_sessionmaker, query, query.after))


@router.get("/customers/count", response_model=ScoreCount)
async def count_scores(
    session: ReadSessionDep, principal: Annotated[Principal, allow(SCOPE)], filters: ScoreFiltersQuery
) -> ScoreCount:
    """How many customers the same filters as the list select (a segment's size)."""
    return ScoreCount(count=await service.count_scores(session, filters))


@router.get("/customers/{customer_id:uuid}", response_model=CustomerScores)
async def get_scores(
    customer_id: uuid.UUID, response: Response, session: ReadSessionDep, principal: Annotated[Principal, allow(SCOPE)]
) -> CustomerScores:
    """The customer's current scores grouped for display, with the composite score explained term by term.
    A merged id answers with the survivor's scores and `Content-Location` naming it."""
    scores = await service.get_scores(session, customer_id)
    _survivor_location(response, customer_id, scores.customer_id)
    return scores


@router.get("/customers/{customer_id:uuid}/explain", response_model=ScoreExplanation)
async def explain_scores(
    customer_id: uuid.UUID, response: Response, session: ReadSessionDep, principal: Annotated[Principal, allow(SCOPE)]
) -> ScoreExplanation:
    """Why the customer scores as it does: the composite score term by term (input, rule, points), the rule
    that put it in its lifecycle stage, and its RFM and ABC placement."""
    scores = await service.get_scores(session, customer_id)
    _survivor_location(response, customer_id, scores.customer_id, "/explain")
    return ScoreExplanation(
        customer_id=scores.customer_id,
        as_of=scores.as_of,
        composite=scores.composite,
        lifecycle=scores.lifecycle,
        rfm=scores.rfm,
        abc=scores.abc,
    )


@router.get("/customers/{customer_id:uuid}/history", response_model=Page[ScoreChangeRead])
async def score_history(
    customer_id: uuid.UUID,
    response: Response,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(SCOPE)],
    page: PageDep,
) -> Page[ScoreChangeRead]:
    """Material score changes, newest first; cursor pagination."""
    survivor, changes = await service.score_history(session, customer_id, page)
    _survivor_location(response, customer_id, survivor, "/history")
    return changes


@router.get("/customers/{customer_id:uuid}/stages", response_model=Page[StageChangeRead])
async def stage_history(
    customer_id: uuid.UUID,
    response: Response,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(SCOPE)],
    page: PageDep,
) -> Page[StageChangeRead]:
    """Lifecycle stage changes, newest first; cursor pagination."""
    survivor, changes = await service.stage_history(session, customer_id, page)
    _survivor_location(response, customer_id, survivor, "/stages")
    return changes
