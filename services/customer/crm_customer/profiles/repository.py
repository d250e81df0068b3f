"""Every query of the profiles domain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.pagination import keyset_after

from .models import ProfileAnswer


async def add(session: AsyncSession, values: dict[str, Any]) -> ProfileAnswer:
    answer = ProfileAnswer(**values)
    session.add(answer)
    await session.flush()
    await session.refresh(answer)
    return answer


async def history_page(
    session: AsyncSession,
    customer_id: uuid.UUID,
    question_key: str | None,
    after: Sequence[Any] | None,
    limit: int,
) -> list[ProfileAnswer]:
    """Answers newest first."""
    columns = [(ProfileAnswer.answered_at, True), (ProfileAnswer.id, True)]
    stmt = select(ProfileAnswer).where(ProfileAnswer.customer_id == customer_id)
    if question_key:
        stmt = stmt.where(ProfileAnswer.question_key == question_key)
    if after is not None:
        stmt = stmt.where(keyset_after(columns, after))
    stmt = stmt.order_by(ProfileAnswer.answered_at.desc(), ProfileAnswer.id.desc()).limit(limit + 1)
    return list((await session.execute(stmt)).scalars())


async def latest_per_question(session: AsyncSession, customer_id: uuid.UUID) -> list[ProfileAnswer]:
    stmt = (
        select(ProfileAnswer)
        .where(ProfileAnswer.customer_id == customer_id)
        .ext(distinct_on(ProfileAnswer.question_key))
        .order_by(ProfileAnswer.question_key, ProfileAnswer.answered_at.desc(), ProfileAnswer.id.desc())
    )
    return list((await session.execute(stmt)).scalars())
