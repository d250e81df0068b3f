"""Every query of the subscriptions domain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Subscription


async def add(session: AsyncSession, values: dict[str, Any]) -> Subscription:
    subscription = Subscription(**values)
    session.add(subscription)
    await session.flush()
    await session.refresh(subscription)
    return subscription


async def get(
    session: AsyncSession, subscription_id: uuid.UUID, *, partner: str | None, lock: bool = False
) -> Subscription | None:
    """One subscription; with `partner`, only that partner's (anyone else's is not there for it)."""
    stmt = select(Subscription).where(Subscription.id == subscription_id)
    if partner is not None:
        stmt = stmt.where(Subscription.partner == partner)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def listed(partner: str | None) -> Select[Subscription]:
    stmt = select(Subscription)
    return stmt.where(Subscription.partner == partner) if partner is not None else stmt


async def every(session: AsyncSession) -> Sequence[Subscription]:
    """Every subscription, active or paused (a paused one's deliveries wait for its resumption)."""
    return (await session.execute(select(Subscription))).scalars().all()


async def delete(session: AsyncSession, subscription: Subscription) -> None:
    await session.delete(subscription)
    await session.flush()


async def count_of_partner(session: AsyncSession, partner: str) -> int:
    """How many subscriptions the partner holds (no lock: two racing creations may pass the cap by one)."""
    stmt = select(func.count()).select_from(Subscription).where(Subscription.partner == partner)
    return int((await session.execute(stmt)).scalar_one())


async def sealed_with_other_keys(session: AsyncSession, current: str) -> Sequence[Subscription]:
    """The subscriptions whose secrets were sealed with another key than `current` (a key id), locked."""
    stmt = (
        select(Subscription)
        .where(
            Subscription.secret_sealed.not_like(f"{current}:%")
            | Subscription.previous_secret_sealed.not_like(f"{current}:%")
        )
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalars().all()
