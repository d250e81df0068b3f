"""Reading calibrations (the batch job writes them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Calibration


async def latest(session: AsyncSession) -> Calibration | None:
    """The calibration in force: the highest id."""
    stmt = select(Calibration).order_by(Calibration.id.desc()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


def calibrations() -> Select[Any]:
    """Every calibration (the history pages them newest first)."""
    return select(Calibration)
