"""Referrals endpoints: who introduced whom, and who introduces the most."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.bounds import Instant
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import Page, PageDep

from . import service
from .schemas import ReferralIn, ReferralRead, TopReferrers

router = APIRouter(prefix="/api/v1/customers", tags=["referrals"])


@router.get("/referrals/top", response_model=TopReferrers)
async def top_referrers(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read")],
    start: Annotated[Instant | None, Query(alias="from", description="referred at or after")] = None,
    end: Annotated[Instant | None, Query(alias="to", description="referred before")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="default 10")] = 10,
) -> TopReferrers:
    """Referral counts per referrer in a period, most first."""
    return TopReferrers(items=await service.top(session, start=start, end=end, limit=limit))


@router.put(
    "/{customer_id:uuid}/referral",
    response_model=ReferralRead,
    responses={201: {"model": ReferralRead}, 409: {"description": "already referred by someone else"}},
)
async def record_referral(
    customer_id: uuid.UUID,
    data: ReferralIn,
    session: SessionDep,
    principal: Annotated[Principal, allow("customers:write")],
    idem: IdempotencyDep,
) -> Response:
    """Record who referred this customer: 201 when recorded, 200 when the same referral already was."""
    referral, created = await service.record(session, customer_id=customer_id, data=data)
    return await idem.respond(201 if created else 200, service.to_read(referral))


@router.get("/{customer_id:uuid}/referral", response_model=ReferralRead)
async def get_referral(
    customer_id: uuid.UUID, session: ReadSessionDep, principal: Annotated[Principal, allow("customers:read")]
) -> ReferralRead:
    """Who referred this customer, and when (404 when nobody did)."""
    return service.to_read(await service.source_of(session, customer_id))


@router.get("/{customer_id:uuid}/referrals", response_model=Page[ReferralRead])
async def list_referrals(
    customer_id: uuid.UUID,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read")],
    page: PageDep,
) -> Page[ReferralRead]:
    """The customers this one referred, newest first; cursor pagination."""
    return await service.referred_by(session, customer_id=customer_id, page=page)
