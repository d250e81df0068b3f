"""Profile rules: answers accumulate ("drip" profiling); the profile is the latest answer per question."""

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
from .models import ProfileAnswer
from .schemas import CustomerProfile, ProfileAnswerFilters, ProfileAnswerIn, ProfileAnswerRead, ProfileEntry


def to_read(answer: ProfileAnswer) -> ProfileAnswerRead:
    return ProfileAnswerRead.model_validate(answer)


async def answer(session: AsyncSession, *, customer_id: uuid.UUID, data: ProfileAnswerIn) -> ProfileAnswer:
    now = datetime.now(UTC)
    if data.answered_at is not None and in_future(data.answered_at, now):
        raise Unprocessable(
            "the answer cannot be recorded",
            errors=[FieldError(detail="cannot be in the future", pointer="#/answered_at")],
        )
    owner = (await customers.get(session, customer_id)).id
    row = await repository.add(
        session, {**data.model_dump(), "answered_at": data.answered_at or now, "customer_id": owner}
    )
    event = envelope("profile.answered", subject=owner, data={"answer": to_read(row).model_dump(mode="json")})
    await outbox.publish(session, [event])
    return row


async def history(
    session: AsyncSession, *, customer_id: uuid.UUID, filters: ProfileAnswerFilters, page: PageRequest
) -> Page[ProfileAnswerRead]:
    owner = (await customers.get(session, customer_id)).id
    return await page.fetch(
        session,
        repository.answers(owner, filters.question_key),
        order=(ProfileAnswer.answered_at.desc(), ProfileAnswer.id.desc()),
        binding={"customer_id": str(owner), **filters.model_dump(mode="json")},
        item=to_read,
    )


async def profile(session: AsyncSession, customer_id: uuid.UUID) -> CustomerProfile:
    owner = (await customers.get(session, customer_id)).id
    rows = await repository.latest_per_question(session, owner)
    entries = [ProfileEntry.model_validate(r, from_attributes=True) for r in rows]
    return CustomerProfile(customer_id=owner, answers=entries)
