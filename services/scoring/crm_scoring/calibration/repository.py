"""Reading calibrations (the batch job writes them)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Calibration


async def latest(session: AsyncSession) -> Calibration | None:
    """The calibration in force: the highest id."""
    stmt = select(Calibration).order_by(Calibration.id.desc()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def page(session: AsyncSession, *, before: int | None, limit: int) -> list[Calibration]:
    """Newest first, ids below `before`; one more than `limit` to tell if more follow."""
    stmt = select(Calibration)
    if before is not None:
        stmt = stmt.where(Calibration.id < before)
    stmt = stmt.order_by(Calibration.id.desc()).limit(limit + 1)
    return list((await session.execute(stmt)).scalars())
