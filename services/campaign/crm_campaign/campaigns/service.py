"""Campaign rules: a draft is validated on every write (segment exists, templates render, a transactional
message has no control group); only a draft changes or launches; a launch is one transaction."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared import outbox
from crm_shared.etags import NO_MATCH
from crm_shared.pagination import Page, PageRequest
from crm_shared.schemas.campaigns import CampaignLaunchedData

from ..events import PUBLISHER
from ..segments import repository as segments
from ..segments.service import compiled
from . import launch as launcher
from . import repository, templates
from .exceptions import CampaignNotFound, HoldoutNotFound, IfMatchRequired, InvalidCampaign, NotDraft, StaleCampaign
from .models import Campaign, GlobalHoldout
from .rules import SendPolicy
from .schemas import (
    CampaignCreate,
    CampaignFilters,
    CampaignRead,
    CampaignUpdate,
    HoldoutCreate,
    HoldoutRead,
    LaunchSummary,
)


def to_read(campaign: Campaign) -> CampaignRead:
    return CampaignRead.model_validate(campaign)


def new_seed() -> int:
    return random.SystemRandom().randrange(2**62)


async def _validate(session: AsyncSession, values: dict[str, Any]) -> None:
    for name in ("template", "subject"):
        if values.get(name) is not None:
            try:
                templates.check(values[name])
            except templates.TemplateProblem as exc:
                where = f"line {exc.line}: " if exc.line else ""
                raise InvalidCampaign(f"#/{name}", f"{where}{exc.message}") from exc
    if values["kind"] == "transactional" and values["control_share"] > 0:
        raise InvalidCampaign("#/control_share", "a transactional message has no control group: use 0")
    if await segments.get(session, values["segment_id"]) is None:
        raise InvalidCampaign("#/segment_id", "no such segment")


async def create(session: AsyncSession, data: CampaignCreate, *, by: str) -> Campaign:
    values = data.model_dump()
    await _validate(session, values)
    if values["seed"] is None:
        values["seed"] = new_seed()
    return await repository.add(session, Campaign(**values, created_by=by))


async def get(session: AsyncSession, campaign_id: uuid.UUID, *, lock: bool = False) -> Campaign:
    campaign = await repository.get(session, campaign_id, lock=lock)
    if campaign is None:
        raise CampaignNotFound(campaign_id)
    return campaign


async def _draft(session: AsyncSession, campaign_id: uuid.UUID, if_match: int | None) -> Campaign:
    campaign = await get(session, campaign_id, lock=True)
    if if_match is not None and (if_match == NO_MATCH or if_match != campaign.version):
        raise StaleCampaign(campaign.version)
    if campaign.status != "draft":
        raise NotDraft(campaign.status)
    return campaign


async def update(
    session: AsyncSession, campaign_id: uuid.UUID, data: CampaignUpdate, *, if_match: int | None
) -> Campaign:
    if if_match is None:
        raise IfMatchRequired()
    campaign = await _draft(session, campaign_id, if_match)
    changes = {
        k: v
        for k, v in data.model_dump(exclude_unset=True).items()
        if v is not None or k in ("budget", "subject", "scheduled_at")
    }
    current = {c: getattr(campaign, c) for c in ("kind", "control_share", "segment_id")}
    await _validate(session, {**current, **changes})
    for key, value in changes.items():
        setattr(campaign, key, value)
    campaign.version += 1
    campaign.updated_at = datetime.now(UTC)
    await session.flush()
    await session.refresh(campaign)  # the stored values (numeric scale) are what the answer shows
    return campaign


async def list_campaigns(session: AsyncSession, filters: CampaignFilters, page: PageRequest) -> Page[CampaignRead]:
    return await page.fetch(
        session,
        repository.filtered(filters),
        order=(Campaign.created_at.desc(), Campaign.id.desc()),
        binding=filters.model_dump(mode="json"),
        item=to_read,
    )


async def launch(
    session: AsyncSession,
    campaign_id: uuid.UUID,
    *,
    policy: SendPolicy,
    if_match: int | None,
    now: datetime | None = None,
) -> LaunchSummary:
    at = now or datetime.now(UTC)
    campaign = await _draft(session, campaign_id, if_match)
    segment = await segments.get(session, campaign.segment_id)
    if segment is None:  # a segment is never deleted; kept for safety
        raise InvalidCampaign("#/segment_id", "no such segment")
    start = max(at, campaign.scheduled_at) if campaign.scheduled_at else at
    await launcher.assign_members(
        session, campaign, compiled(segment.rules), await launcher.active_holdouts(session, at), at
    )
    await launcher.queue_recipients(session, campaign, policy, at, start)
    groups, statuses, reasons = await launcher.counts(session, campaign.id)
    campaign.status, campaign.launched_at, campaign.version = "launched", at, campaign.version + 1
    campaign.updated_at = at
    await session.flush()
    data = CampaignLaunchedData(
        campaign_id=campaign.id,
        name=campaign.name,
        objective=campaign.objective,  # type: ignore[arg-type]
        channel=campaign.channel,  # type: ignore[arg-type]
        kind=campaign.kind,  # type: ignore[arg-type]
        segment_id=campaign.segment_id,
        launched_at=at,
        members=sum(groups.values()),
        treatment=groups["treatment"],
        control=groups["control"],
        global_control=groups["global_control"],
        queued=statuses.get("queued", 0),
        suppressed=statuses.get("suppressed", 0),
    )
    event = PUBLISHER.event("campaign.launched", subject=campaign.id, data=data)
    await outbox.publish(session, [event])
    return LaunchSummary(
        campaign_id=campaign.id,
        launched_at=at,
        members=sum(groups.values()),
        groups=groups,
        recipients=statuses,
        suppressed=reasons,
    )


async def cancel(session: AsyncSession, campaign_id: uuid.UUID, *, if_match: int | None) -> Campaign:
    """Stop a draft or a launched campaign: recipients still queued are suppressed (`cancelled`); what was
    sent stays sent, and its members' orders are still attributed (the results stay meaningful)."""
    campaign = await get(session, campaign_id, lock=True)
    if if_match is not None and (if_match == NO_MATCH or if_match != campaign.version):
        raise StaleCampaign(campaign.version)
    if campaign.status == "cancelled":
        raise NotDraft(campaign.status)
    await repository.cancel_queued(session, campaign.id)
    campaign.status, campaign.version, campaign.updated_at = "cancelled", campaign.version + 1, datetime.now(UTC)
    await session.flush()
    return campaign


def holdout_read(holdout: GlobalHoldout) -> HoldoutRead:
    return HoldoutRead.model_validate(holdout)


async def create_holdout(session: AsyncSession, data: HoldoutCreate, *, by: str) -> GlobalHoldout:
    if data.ends_at <= data.starts_at:
        raise InvalidCampaign("#/ends_at", "must be after starts_at")
    values = data.model_dump()
    if values["seed"] is None:
        values["seed"] = new_seed()
    return await repository.add(session, GlobalHoldout(**values, created_by=by))


async def end_holdout(session: AsyncSession, holdout_id: uuid.UUID, ends_at: datetime) -> GlobalHoldout:
    holdout = await repository.get_holdout(session, holdout_id, lock=True)
    if holdout is None:
        raise HoldoutNotFound(holdout_id)
    if ends_at <= holdout.starts_at:
        raise InvalidCampaign("#/ends_at", "must be after the holdout's starts_at")
    holdout.ends_at = ends_at
    await session.flush()
    return holdout


async def list_holdouts(session: AsyncSession, page: PageRequest) -> Page[HoldoutRead]:
    return await page.fetch(
        session,
        repository.holdouts(),
        order=(GlobalHoldout.created_at.desc(), GlobalHoldout.id.desc()),
        binding={},
        item=holdout_read,
    )
