"""Every query of the points ledger (read side: the batch job writes it)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..purchases.models import KnownCustomer
from .models import PointsEntry


def entries(*, customer_id: uuid.UUID | None, start: date | None, end: date | None) -> Select[Any]:
    """Rows with month in [start, end] (either open), of one customer when given."""
    stmt = select(PointsEntry)
    if customer_id is not None:
        stmt = stmt.where(PointsEntry.customer_id == customer_id)
    if start is not None:
        stmt = stmt.where(PointsEntry.month >= start)
    if end is not None:
        stmt = stmt.where(PointsEntry.month <= end)
    return stmt


async def customer_rows(session: AsyncSession, customer_id: uuid.UUID) -> list[PointsEntry]:
    stmt = select(PointsEntry).where(PointsEntry.customer_id == customer_id).order_by(PointsEntry.month.desc())
    return list((await session.execute(stmt)).scalars())


async def is_known(session: AsyncSession, customer_id: uuid.UUID) -> bool:
    stmt = select(exists().where(KnownCustomer.customer_id == customer_id))
    return bool((await session.execute(stmt)).scalar())
