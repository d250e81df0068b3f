"""Exchange-rate endpoints: load dated rates in bulk, list them. Thin handlers; the rules live in service.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import Page, PageDep

from . import service
from .schemas import RateRead, RatesLoad, RatesLoaded

router = APIRouter(prefix="/api/v1/scores", tags=["currency rates"])
CodeQuery = Annotated[str | None, Query(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]


@router.put("/currency-rates", response_model=RatesLoaded)
async def load_rates(
    data: RatesLoad,
    session: SessionDep,
    principal: Annotated[Principal, allow("scores:write")],
    idem: IdempotencyDep,
) -> Response:
    """Add or replace dated rates (up to 10,000 at once; the same currency and day again: replaced, the
    others kept). Spend figures follow on the next recompute. One bad rate refuses the whole load (422
    naming it)."""
    loaded = await service.load(session, data, by=principal.client_id)
    return await idem.respond(200, loaded)


@router.get("/currency-rates", response_model=Page[RateRead])
async def list_rates(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("scores:read")],
    page: PageDep,
    quote_currency: CodeQuery = None,
    currency: CodeQuery = None,
) -> Page[RateRead]:
    """The loaded rates quoted in `quote_currency` (default: the reporting currency), by currency and day;
    cursor pagination."""
    return await service.list_rates(session, page, quote_currency=quote_currency, currency=currency)
