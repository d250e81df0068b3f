"""Referral rules: a customer is referred once, by another existing customer, without cycles."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared import outbox
from crm_shared.errors import FieldError, Unprocessable
from crm_shared.pagination import Page, PageRequest

from ..clock import in_future
from ..customers import service as customers
from ..events import envelope
from . import repository
from .exceptions import AlreadyReferred, NotReferred
from .models import Referral
from .schemas import ReferralIn, ReferralRead, TopReferrer


def to_read(referral: Referral) -> ReferralRead:
    return ReferralRead.model_validate(referral)


def _invalid(pointer: str, detail: str) -> Unprocessable:
    return Unprocessable("the referral cannot be recorded", errors=[FieldError(detail=detail, pointer=pointer)])


async def record(session: AsyncSession, *, customer_id: uuid.UUID, data: ReferralIn) -> tuple[Referral, bool]:
    """Record who referred the customer; True when recorded now, False when the same one already was."""
    referred = (await customers.get(session, customer_id)).id
    now = datetime.now(UTC)
    if data.referred_at is not None and in_future(data.referred_at, now):
        raise _invalid("#/referred_at", "cannot be in the future")
    if data.referrer_id in (referred, customer_id):
        raise _invalid("#/referrer_id", "a customer cannot refer itself")
    referrer = await repository.customer_state(session, data.referrer_id)
    if referrer is None:
        raise _invalid("#/referrer_id", f"no customer with id {data.referrer_id}")
    if referrer.merged_into is not None:
        raise _invalid("#/referrer_id", f"the referrer was merged into {referrer.merged_into}; use that id")
    await repository.lock_writes(session)
    existing = await repository.by_referred(session, referred)
    if existing is not None:
        same = (
            existing.referrer_id == data.referrer_id
            and data.referred_at in (None, existing.referred_at)
            and data.source in (None, existing.source)
        )
        if not same:
            raise AlreadyReferred(existing.referrer_id)
        return existing, False
    if referred in await repository.referrer_chain(session, data.referrer_id):
        raise _invalid("#/referrer_id", "this customer (directly or not) referred the referrer: a cycle")
    referral = await repository.add(
        session,
        {
            "referrer_id": data.referrer_id,
            "referred_id": referred,
            "referred_at": data.referred_at or now,
            "source": data.source,
        },
    )
    data_out = {"referral": to_read(referral).model_dump(mode="json")}
    event = envelope("referral.recorded", subject=referred, data=data_out)
    await outbox.publish(session, [event])
    return referral, True


async def source_of(session: AsyncSession, customer_id: uuid.UUID) -> Referral:
    referred = (await customers.get(session, customer_id)).id
    referral = await repository.by_referred(session, referred)
    if referral is None:
        raise NotReferred(referred)
    return referral


async def referred_by(session: AsyncSession, *, customer_id: uuid.UUID, page: PageRequest) -> Page[ReferralRead]:
    referrer = (await customers.get(session, customer_id)).id
    return await page.fetch(
        session,
        repository.referred_by(referrer),
        order=(Referral.referred_at.desc(), Referral.id.desc()),
        binding={"referrer_id": str(referrer)},
        item=to_read,
    )


async def top(session: AsyncSession, *, start: datetime | None, end: datetime | None, limit: int) -> list[TopReferrer]:
    if start is not None and end is not None and start >= end:
        raise Unprocessable("the period is empty", errors=[FieldError(detail="must be after 'from'", parameter="to")])
    rows = await repository.top_referrers(session, start, end, limit)
    return [TopReferrer(referrer_id=r[0], display_name=r[1], referrals=r[2]) for r in rows]
