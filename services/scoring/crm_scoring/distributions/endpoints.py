"""Distribution endpoints: chart data over the current scores (scope scores:read)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, driver_connection

from ..rules.repository import load_rules
from . import repository
from .schemas import (
    AbcDistribution,
    AbcQueryDep,
    ClassFilterQuery,
    ClvHistogram,
    ClvQueryDep,
    LifecycleDistribution,
    RfmDistribution,
    SegmentFilterQuery,
)

SCOPE = "scores:read"
router = APIRouter(prefix="/api/v1/scores/distributions", tags=["score distributions"])


@router.get("/lifecycle", response_model=LifecycleDistribution)
async def lifecycle(
    session: ReadSessionDep, principal: Annotated[Principal, allow(SCOPE)], filters: ClassFilterQuery
) -> LifecycleDistribution:
    """The lifecycle funnel: customers per stage, in stage order, with shares."""
    return await repository.lifecycle(await driver_connection(session), None, filters.abc_class)


@router.get("/abc", response_model=AbcDistribution)
async def abc(
    session: ReadSessionDep, principal: Annotated[Principal, allow(SCOPE)], query: AbcQueryDep
) -> AbcDistribution:
    """Customers and revenue per ABC class, and the Pareto curve of revenue over customers."""
    return await repository.abc(await driver_connection(session), query.stage, query.points)


@router.get("/rfm", response_model=RfmDistribution)
async def rfm(
    session: ReadSessionDep, principal: Annotated[Principal, allow(SCOPE)], filters: SegmentFilterQuery
) -> RfmDistribution:
    """The R x F grid (counts and mean M per cell) and the customers per RFM segment."""
    rules = await load_rules(session)
    order = [s.name for s in rules.rfm_segments.segments]
    return await repository.rfm(await driver_connection(session), filters.stage, filters.abc_class, order)


@router.get("/clv", response_model=ClvHistogram)
async def clv(
    session: ReadSessionDep, principal: Annotated[Principal, allow(SCOPE)], query: ClvQueryDep
) -> ClvHistogram:
    """Histogram of CLV in `bins` equal bins up to `max` (default: the 99th percentile); customers above
    it and those without a CLV are counted apart."""
    return await repository.clv(await driver_connection(session), query.stage, query.abc_class, query.bins, query.max)
