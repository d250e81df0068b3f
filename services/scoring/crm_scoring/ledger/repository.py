"""Every query of the points ledger (read side: the batch job writes it)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.pagination import keyset_after

from ..purchases.models import KnownCustomer
from .models import PointsEntry

# Newest month first, then by customer: the keyset a cursor continues from.
_ORDER = ((PointsEntry.month, True), (PointsEntry.customer_id, False))


async def page(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID | None,
    start: date | None,
    end: date | None,
    after: Sequence[Any] | None,
    limit: int,
) -> list[PointsEntry]:
    """Rows with month in [start, end] (either open), one more than `limit` to tell if more follow."""
    stmt = select(PointsEntry)
    if customer_id is not None:
        stmt = stmt.where(PointsEntry.customer_id == customer_id)
    if start is not None:
        stmt = stmt.where(PointsEntry.month >= start)
    if end is not None:
        stmt = stmt.where(PointsEntry.month <= end)
    if after is not None:
        stmt = stmt.where(keyset_after(_ORDER, after))
    stmt = stmt.order_by(*(c.desc() if d else c.asc() for c, d in _ORDER)).limit(limit + 1)
    return list((await session.execute(stmt)).scalars())


async def customer_rows(session: AsyncSession, customer_id: uuid.UUID) -> list[PointsEntry]:
    stmt = select(PointsEntry).where(PointsEntry.customer_id == customer_id).order_by(PointsEntry.month.desc())
    return list((await session.execute(stmt)).scalars())


async def is_known(session: AsyncSession, customer_id: uuid.UUID) -> bool:
    stmt = select(exists().where(KnownCustomer.customer_id == customer_id))
    return bool((await session.execute(stmt)).scalar())
