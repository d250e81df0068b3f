"""Every query of the batch runs' API (the run itself writes through runner.py and snapshot.py)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .models import BatchRun, RunScore


async def get_run(session: AsyncSession, run_id: int) -> BatchRun | None:
    return await session.get(BatchRun, run_id)


def runs(status: str | None) -> Select[Any]:
    """The runs, narrowed to one status when given (the list pages them newest first)."""
    stmt = select(BatchRun)
    return stmt if status is None else stmt.where(BatchRun.status == status)


async def get_run_score(session: AsyncSession, run_id: int, customer_id: uuid.UUID) -> RunScore | None:
    return await session.scalar(select(RunScore).where(RunScore.run_id == run_id, RunScore.customer_id == customer_id))


async def drop_run_scores(session: AsyncSession, run: BatchRun) -> int:
    """Delete a run's copies; returns how many there were."""
    result = await session.execute(delete(RunScore).where(RunScore.run_id == run.id))
    await session.execute(update(BatchRun).where(BatchRun.id == run.id).values(kept_scores=False))
    return int(result.rowcount)  # type: ignore[attr-defined]
