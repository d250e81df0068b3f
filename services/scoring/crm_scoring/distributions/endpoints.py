"""Distribution endpoints: chart data over the current scores (scope scores:read). Thin handlers; the
charts are built in service.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep

from . import service
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
    return await service.lifecycle(session, filters.abc_class)


@router.get("/abc", response_model=AbcDistribution)
async def abc(
    session: ReadSessionDep, principal: Annotated[Principal, allow(SCOPE)], query: AbcQueryDep
) -> AbcDistribution:
    """Customers and revenue per ABC class, and the Pareto curve of revenue over customers."""
    return await service.abc(session, query.stage, query.points)


@router.get("/rfm", response_model=RfmDistribution)
async def rfm(
    session: ReadSessionDep, principal: Annotated[Principal, allow(SCOPE)], filters: SegmentFilterQuery
) -> RfmDistribution:
    """The R x F grid (counts and mean M per cell) and the customers per RFM segment."""
    return await service.rfm(session, filters.stage, filters.abc_class)


@router.get("/clv", response_model=ClvHistogram)
async def clv(
    session: ReadSessionDep, principal: Annotated[Principal, allow(SCOPE)], query: ClvQueryDep
) -> ClvHistogram:
    """Histogram of CLV in `bins` equal bins up to `max` (default: the 99th percentile); customers above
    it and those without a CLV are counted apart."""
    return await service.clv(session, query.stage, query.abc_class, query.bins, query.max)
