"""Campaign and global holdout rows (the launch's set-based statements are in launch.py)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Campaign, GlobalHoldout
from .schemas import CampaignFilters


async def add(session: AsyncSession, row: Campaign | GlobalHoldout) -> Any:
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def get(session: AsyncSession, campaign_id: uuid.UUID, *, lock: bool = False) -> Campaign | None:
    stmt = select(Campaign).where(Campaign.id == campaign_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def filtered(filters: CampaignFilters) -> Select[Campaign]:
    stmt = select(Campaign)
    if filters.status:
        stmt = stmt.where(Campaign.status == filters.status)
    if filters.objective:
        stmt = stmt.where(Campaign.objective == filters.objective)
    return stmt


async def get_holdout(session: AsyncSession, holdout_id: uuid.UUID, *, lock: bool = False) -> GlobalHoldout | None:
    stmt = select(GlobalHoldout).where(GlobalHoldout.id == holdout_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def holdouts() -> Select[GlobalHoldout]:
    return select(GlobalHoldout)


async def cancel_queued(session: AsyncSession, campaign_id: uuid.UUID) -> None:
    await session.execute(
        text(
            "UPDATE campaign_recipients SET status = 'suppressed', reason = 'cancelled', updated_at = now() "
            "WHERE campaign_id = :id AND status = 'queued'"
        ),
        {"id": campaign_id},
    )
