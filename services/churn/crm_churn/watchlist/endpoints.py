"""Watchlist endpoints: customers at risk with the reasons and evidence, and the signals' thresholds."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.etags import IfMatchDep
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import Page, PageDep

from . import service
from .schemas import WatchEntryRead, WatchlistFilters, WatchlistSettings, WatchlistSummary
from .summary import SummaryCache, lifespan

router = APIRouter(prefix="/api/v1/churn/watchlist", tags=["watchlist"], lifespan=lifespan)
READ, WRITE = "churn:read", "churn:write"


@router.get("", response_model=Page[WatchEntryRead])
async def list_watchlist(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    page: PageDep,
    filters: Annotated[WatchlistFilters, Query()],
) -> Page[WatchEntryRead]:
    """Customers at risk, key accounts with repeated complaints first, then by value at risk (CLV x churn
    risk), each with the reasons it is listed and links to the evidence; filters signal, ABC class, stage,
    region; cursor pagination."""
    return await service.list_watchlist(session, filters, page)


@router.get("/summary", response_model=WatchlistSummary)
async def summarize_watchlist(
    request: Request,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    filters: Annotated[WatchlistFilters, Query()],
) -> WatchlistSummary:
    """The whole watchlist under the list's own filters in figures: how many customers, how many of them
    priority key accounts, and their value at risk in total (money: a decimal string), as of `as_of` (kept
    up to two minutes: adding up a million entries takes a scan)."""
    cache: SummaryCache = request.app.state.watchlist_summary
    return await cache.summary(session, filters)


@router.get("/settings", response_model=service.settings_store.Stored[WatchlistSettings])
async def get_settings(session: ReadSessionDep, principal: Annotated[Principal, allow(READ)]) -> Response:
    """The signals' thresholds; the ETag header is what `If-Match` on an update expects."""
    return service.settings_store.etagged(await service.load_settings(session))


@router.put(
    "/settings",
    response_model=service.settings_store.Stored[WatchlistSettings],
    responses={412: {"description": "stale If-Match"}, 428: {"description": "If-Match missing"}},
)
async def put_settings(
    body: Annotated[dict[str, Any], Body(examples=[WatchlistSettings().model_dump()])],
    session: SessionDep,
    principal: Annotated[Principal, allow(WRITE)],
    idem: IdempotencyDep,
    if_match: IfMatchDep,
) -> Response:
    """Replace the thresholds (If-Match required); every entry's flags follow at once."""
    stored = await service.replace_settings(session, body, if_match=if_match, by=principal.client_id)
    return await idem.respond(200, stored, version=stored.version)


@router.get("/{customer_id:uuid}", response_model=WatchEntryRead)
async def get_entry(
    customer_id: uuid.UUID, session: ReadSessionDep, principal: Annotated[Principal, allow(READ)]
) -> WatchEntryRead:
    """One customer's signals, whether or not it is listed now."""
    return await service.get_entry(session, customer_id)
