"""Every query of the records domain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..customers.models import CustomerComplaint, CustomerOrder, CustomerValue
from .models import OPEN_STATUSES, ChurnRecord, ChurnRecordReason

_MAX_HOPS = 8  # merges chain rarely; a cycle (a bad event) must not loop forever


async def resolve(session: AsyncSession, customer_id: uuid.UUID) -> uuid.UUID:
    """The customer id its history lives under now (the survivor after merges)."""
    current = customer_id
    for _ in range(_MAX_HOPS):
        nxt = (
            await session.execute(select(CustomerValue.merged_into).where(CustomerValue.customer_id == current))
        ).scalar_one_or_none()
        if nxt is None:
            break
        current = nxt
    return current


async def lock_customer(session: AsyncSession, customer_id: uuid.UUID) -> CustomerValue:
    """The customer's read-model row, created if missing, locked: one record opens per customer at a time."""
    await session.execute(insert(CustomerValue).values(customer_id=customer_id).on_conflict_do_nothing())
    stmt = select(CustomerValue).where(CustomerValue.customer_id == customer_id).with_for_update()
    return (await session.execute(stmt)).scalar_one()


async def revenue_12m(session: AsyncSession, customer_id: uuid.UUID, at: datetime) -> Decimal:
    stmt = select(func.coalesce(func.sum(CustomerOrder.amount), 0)).where(
        CustomerOrder.customer_id == customer_id,
        CustomerOrder.ordered_at > at - timedelta(days=365),
        CustomerOrder.ordered_at <= at,
    )
    return Decimal((await session.execute(stmt)).scalar_one())


async def open_record(session: AsyncSession, customer_id: uuid.UUID, *, for_update: bool = False) -> ChurnRecord | None:
    stmt = select(ChurnRecord).where(
        ChurnRecord.customer_id == customer_id,
        ChurnRecord.status.in_(OPEN_STATUSES),
        ChurnRecord.folded_into.is_(None),
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def detected_since(session: AsyncSession, customer_id: uuid.UUID, since: datetime) -> bool:
    """Whether a record of the customer was detected at or after `since` (one risk episode, one record)."""
    stmt = select(ChurnRecord.id).where(ChurnRecord.customer_id == customer_id, ChurnRecord.detected_at >= since)
    return (await session.execute(stmt.limit(1))).first() is not None


async def get(session: AsyncSession, record_id: uuid.UUID, *, for_update: bool = False) -> ChurnRecord | None:
    stmt = select(ChurnRecord).where(ChurnRecord.id == record_id, ChurnRecord.folded_into.is_(None))
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def reasons_of(session: AsyncSession, record_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    stmt = (
        select(ChurnRecordReason.record_id, ChurnRecordReason.reason_key)
        .where(ChurnRecordReason.record_id.in_(list(record_ids)))
        .order_by(ChurnRecordReason.record_id, ChurnRecordReason.reason_key)
    )
    out: dict[uuid.UUID, list[str]] = {i: [] for i in record_ids}
    for record_id, key in await session.execute(stmt):
        out[record_id].append(key)
    return out


async def add_reasons(session: AsyncSession, record_id: uuid.UUID, keys: Sequence[str], by: str | None) -> None:
    if keys:
        rows = [{"record_id": record_id, "reason_key": k, "added_by": by} for k in keys]
        await session.execute(insert(ChurnRecordReason).values(rows).on_conflict_do_nothing())


async def replace_reasons(session: AsyncSession, record_id: uuid.UUID, keys: Sequence[str], by: str | None) -> None:
    """Keep the reasons still wanted (their added_by/at), drop the others, add the new."""
    await session.execute(
        delete(ChurnRecordReason).where(
            ChurnRecordReason.record_id == record_id, ChurnRecordReason.reason_key.not_in(list(keys))
        )
    )
    await add_reasons(session, record_id, keys, by)


def listing(filters: dict[str, Any]) -> Select[ChurnRecord]:
    stmt = select(ChurnRecord).where(ChurnRecord.folded_into.is_(None))
    for name in ("customer_id", "status", "source", "abc_class", "segment", "region"):
        if filters.get(name) is not None:
            stmt = stmt.where(getattr(ChurnRecord, name) == filters[name])
    if filters.get("from_") is not None:
        stmt = stmt.where(ChurnRecord.detected_at >= filters["from_"])
    if filters.get("to") is not None:
        stmt = stmt.where(ChurnRecord.detected_at < filters["to"])
    if filters.get("reason") is not None:
        stmt = stmt.where(
            select(ChurnRecordReason.record_id)
            .where(ChurnRecordReason.record_id == ChurnRecord.id, ChurnRecordReason.reason_key == filters["reason"])
            .exists()
        )
    return stmt


async def open_records_after(session: AsyncSession, customer_id: uuid.UUID, at: datetime) -> list[ChurnRecord]:
    """The customer's open records detected before an order placed at `at` (that order wins them back)."""
    stmt = (
        select(ChurnRecord)
        .where(
            ChurnRecord.customer_id == customer_id,
            ChurnRecord.status.in_(OPEN_STATUSES),
            ChurnRecord.folded_into.is_(None),
            ChurnRecord.detected_at <= at,
        )
        .with_for_update()
    )
    return list((await session.execute(stmt)).scalars())


async def records_of(session: AsyncSession, customer_id: uuid.UUID) -> list[ChurnRecord]:
    stmt = (
        select(ChurnRecord)
        .where(ChurnRecord.customer_id == customer_id, ChurnRecord.folded_into.is_(None))
        .order_by(ChurnRecord.detected_at, ChurnRecord.id)
        .with_for_update()
    )
    return list((await session.execute(stmt)).scalars())


async def move_records(session: AsyncSession, merged: uuid.UUID, survivor: uuid.UUID) -> None:
    await session.execute(
        update(ChurnRecord)
        .where(ChurnRecord.customer_id == merged)
        .values(customer_id=survivor, version=ChurnRecord.version + 1, updated_at=func.now())
    )


_COPY_REASONS = text("""
INSERT INTO churn_record_reasons (record_id, reason_key, added_by, added_at)
SELECT :into, reason_key, added_by, added_at FROM churn_record_reasons WHERE record_id = :from
ON CONFLICT DO NOTHING
""")


async def copy_reasons(session: AsyncSession, from_id: uuid.UUID, into_id: uuid.UUID) -> None:
    await session.execute(_COPY_REASONS, {"from": from_id, "into": into_id})


async def complaints(session: AsyncSession, customer_id: uuid.UUID) -> list[CustomerComplaint]:
    stmt = (
        select(CustomerComplaint)
        .where(CustomerComplaint.customer_id == customer_id)
        .order_by(CustomerComplaint.opened_at.desc(), CustomerComplaint.complaint_id)
    )
    return list((await session.execute(stmt)).scalars())
