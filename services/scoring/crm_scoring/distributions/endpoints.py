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
    """Customers and revenue per ABC class (exact), and the Pareto curve of revenue over customers.

    The curve is read from log-spaced buckets of total spend (100 a decade: the spends in one bucket differ
    by less than 2.33%), each bucket's customers holding its mean: exact where it crosses a bucket edge, and
    elsewhere never above the exact revenue share and at least the exact share / 1.0233."""
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
    it and those without a CLV are counted apart.

    Read from log-spaced buckets of CLV (100 a decade: the CLVs in one bucket differ by less than 2.33%) with
    each bucket's count, sum and sum of squares. `scored`, `unscored` and the first edge are exact; a bucket's
    customers are placed evenly about its mean with its variance (exact for one or two customers, or equal
    CLVs), so the customers counted below any edge are off by at most those of the bucket holding that edge
    (CLVs within 2.33% of it), and the default `max` is within one bucket's width (2.33%) of the exact 99th
    percentile before rounding up to the cent."""
    return await service.clv(session, query.stage, query.abc_class, query.bins, query.max)
