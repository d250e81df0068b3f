"""Every query of the profiles domain."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from .models import ProfileAnswer


async def add(session: AsyncSession, values: dict[str, Any]) -> ProfileAnswer:
    answer = ProfileAnswer(**values)
    session.add(answer)
    await session.flush()
    await session.refresh(answer)
    return answer


def answers(customer_id: uuid.UUID, question_key: str | None) -> Select[ProfileAnswer]:
    """The customer's answers, to one question when given, unordered."""
    stmt = select(ProfileAnswer).where(ProfileAnswer.customer_id == customer_id)
    return stmt.where(ProfileAnswer.question_key == question_key) if question_key else stmt


async def latest_per_question(session: AsyncSession, customer_id: uuid.UUID) -> list[ProfileAnswer]:
    stmt = (
        select(ProfileAnswer)
        .where(ProfileAnswer.customer_id == customer_id)
        .ext(distinct_on(ProfileAnswer.question_key))
        .order_by(ProfileAnswer.question_key, ProfileAnswer.answered_at.desc(), ProfileAnswer.id.desc())
    )
    return list((await session.execute(stmt)).scalars())
