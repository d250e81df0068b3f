"""Campaigns endpoints: drafts, launch, global holdouts and the audience sync."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.etags import IfMatchDep, etag
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import Page, PageDep

from ..audience.sync import sync_from_settings
from . import service
from .rules import SendPolicy
from .schemas import (
    CampaignCreate,
    CampaignFilters,
    CampaignRead,
    CampaignUpdate,
    HoldoutCreate,
    HoldoutEnd,
    HoldoutRead,
    LaunchSummary,
    SyncRead,
)

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])
READ, WRITE = "campaigns:read", "campaigns:write"


@router.post("/sync", response_model=SyncRead)
async def sync_audience(
    request: Request, session: SessionDep, principal: Annotated[Principal, allow(WRITE)], idem: IdempotencyDep
) -> Response:
    """Refill the audience read model from the customer and scoring services (first fill, or repair);
    events keep it current afterwards. One transaction: launches see the old model or the new."""
    settings = request.app.state.settings
    report = await sync_from_settings(session, settings, getattr(request.app.state, "upstream_transports", None))
    return await idem.respond(200, SyncRead(**vars(report)))


@router.post("/holdouts", status_code=201, response_model=HoldoutRead)
async def create_holdout(
    data: HoldoutCreate, session: SessionDep, principal: Annotated[Principal, allow(WRITE)], idem: IdempotencyDep
) -> Response:
    """Hold `share` of all customers out of every marketing campaign launched between starts_at and ends_at
    (the global control group: the whole programme's lift is measured against it)."""
    holdout = await service.create_holdout(session, data, by=principal.client_id)
    return await idem.respond(201, service.holdout_read(holdout), location=f"{router.prefix}/holdouts/{holdout.id}")


@router.get("/holdouts", response_model=Page[HoldoutRead])
async def list_holdouts(
    session: ReadSessionDep, principal: Annotated[Principal, allow(READ)], page: PageDep
) -> Page[HoldoutRead]:
    """Global holdouts, newest first."""
    return await service.list_holdouts(session, page)


@router.patch("/holdouts/{holdout_id}", response_model=HoldoutRead)
async def end_holdout(
    holdout_id: uuid.UUID,
    data: HoldoutEnd,
    session: SessionDep,
    principal: Annotated[Principal, allow(WRITE)],
    idem: IdempotencyDep,
) -> Response:
    """Move a holdout's end (e.g. end it now)."""
    holdout = await service.end_holdout(session, holdout_id, data.ends_at)
    return await idem.respond(200, service.holdout_read(holdout))


@router.post("", status_code=201, response_model=CampaignRead)
async def create_campaign(
    data: CampaignCreate, session: SessionDep, principal: Annotated[Principal, allow(WRITE)], idem: IdempotencyDep
) -> Response:
    """Create a draft; a template that does not render is a 422 naming the line."""
    campaign = await service.create(session, data, by=principal.client_id)
    return await idem.respond(
        201, service.to_read(campaign), location=f"{router.prefix}/{campaign.id}", version=campaign.version
    )


@router.get("", response_model=Page[CampaignRead])
async def list_campaigns(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow(READ)],
    page: PageDep,
    filters: Annotated[CampaignFilters, Query()],
) -> Page[CampaignRead]:
    """Campaigns, newest first."""
    return await service.list_campaigns(session, filters, page)


@router.get("/{campaign_id:uuid}", response_model=CampaignRead)
async def get_campaign(
    campaign_id: uuid.UUID, response: Response, session: ReadSessionDep, principal: Annotated[Principal, allow(READ)]
) -> CampaignRead:
    campaign = await service.get(session, campaign_id)
    response.headers["ETag"] = etag(campaign.version)
    return service.to_read(campaign)


@router.patch("/{campaign_id:uuid}", response_model=CampaignRead)
async def update_campaign(
    campaign_id: uuid.UUID,
    data: CampaignUpdate,
    session: SessionDep,
    principal: Annotated[Principal, allow(WRITE)],
    idem: IdempotencyDep,
    if_match: IfMatchDep,
) -> Response:
    """Change a draft (If-Match required)."""
    campaign = await service.update(session, campaign_id, data, if_match=if_match)
    return await idem.respond(200, service.to_read(campaign), version=campaign.version)


@router.post(
    "/{campaign_id:uuid}/launch", response_model=LaunchSummary, responses={409: {"description": "not a draft"}}
)
async def launch_campaign(
    campaign_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, allow(WRITE)],
    idem: IdempotencyDep,
    if_match: IfMatchDep,
) -> Response:
    """Evaluate the segment, split it into treatment / control / global control, apply consent, preferred
    channel, frequency caps and quiet hours, and queue the treatment recipients (one transaction)."""
    policy = SendPolicy.from_settings(request.app.state.settings)
    summary = await service.launch(session, campaign_id, policy=policy, if_match=if_match)
    return await idem.respond(200, summary)


@router.post("/{campaign_id:uuid}/cancel", response_model=CampaignRead, responses={409: {"description": "cancelled"}})
async def cancel_campaign(
    campaign_id: uuid.UUID,
    session: SessionDep,
    principal: Annotated[Principal, allow(WRITE)],
    idem: IdempotencyDep,
    if_match: IfMatchDep,
) -> Response:
    """Cancel a draft or a launched campaign: queued recipients are suppressed (reason `cancelled`)."""
    campaign = await service.cancel(session, campaign_id, if_match=if_match)
    return await idem.respond(200, service.to_read(campaign), version=campaign.version)
