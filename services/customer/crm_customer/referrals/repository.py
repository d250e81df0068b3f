"""Every query of the referrals domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..customers.models import Customer
from .models import Referral

# One lock for all referral writes: the cycle check reads chains that a concurrent write could close.
_LOCK_KEY = 0x5245_4652  # "REFR"


async def lock_writes(session: AsyncSession) -> None:
    await session.execute(select(func.pg_advisory_xact_lock(literal(_LOCK_KEY))))


async def customer_state(session: AsyncSession, customer_id: uuid.UUID) -> Row[uuid.UUID | None] | None:
    return (await session.execute(select(Customer.merged_into).where(Customer.id == customer_id))).one_or_none()


async def by_referred(session: AsyncSession, referred_id: uuid.UUID) -> Referral | None:
    return (await session.execute(select(Referral).where(Referral.referred_id == referred_id))).scalar_one_or_none()


async def referrer_chain(session: AsyncSession, customer_id: uuid.UUID) -> set[uuid.UUID]:
    """The customer's referrer, that one's referrer, and so on (UNION stops on an existing loop)."""
    base = select(Referral.referrer_id.label("id")).where(Referral.referred_id == customer_id)
    chain = base.cte("chain", recursive=True)
    step = select(Referral.referrer_id).join(chain, Referral.referred_id == chain.c.id)
    chain = chain.union(step)
    return set((await session.execute(select(chain.c.id))).scalars())


async def add(session: AsyncSession, values: dict[str, Any]) -> Referral:
    referral = Referral(**values)
    session.add(referral)
    await session.flush()
    await session.refresh(referral)
    return referral


def referred_by(referrer_id: uuid.UUID) -> Select[Referral]:
    """The referrals a customer made, unordered."""
    return select(Referral).where(Referral.referrer_id == referrer_id)


async def top_referrers(
    session: AsyncSession, start: datetime | None, end: datetime | None, limit: int
) -> list[Row[uuid.UUID, str, int]]:
    count = func.count().label("referrals")
    stmt = select(Referral.referrer_id, Customer.display_name, count).join(
        Customer, Customer.id == Referral.referrer_id
    )
    if start is not None:
        stmt = stmt.where(Referral.referred_at >= start)
    if end is not None:
        stmt = stmt.where(Referral.referred_at < end)
    stmt = stmt.group_by(Referral.referrer_id, Customer.display_name)
    return list(await session.execute(stmt.order_by(count.desc(), Referral.referrer_id).limit(limit)))
