"""Profile rules: answers accumulate ("drip" profiling); the profile is the latest answer per question."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared import outbox
from crm_shared.errors import FieldError, Unprocessable
from crm_shared.events import new_event
from crm_shared.pagination import decode_cursor, encode_cursor

from ..customers import service as customers
from . import repository
from .models import ProfileAnswer
from .schemas import CustomerProfile, ProfileAnswerFilters, ProfileAnswerIn, ProfileAnswerRead, ProfileEntry

SOURCE = customers.SOURCE
CLOCK_SKEW = timedelta(minutes=1)


def to_read(answer: ProfileAnswer) -> ProfileAnswerRead:
    return ProfileAnswerRead.model_validate(answer)


async def answer(session: AsyncSession, *, customer_id: uuid.UUID, data: ProfileAnswerIn) -> ProfileAnswer:
    now = datetime.now(UTC)
    if data.answered_at is not None and data.answered_at > now + CLOCK_SKEW:
        raise Unprocessable(
            "the answer cannot be recorded",
            errors=[FieldError(detail="cannot be in the future", pointer="#/answered_at")],
        )
    owner = (await customers.get(session, customer_id)).id
    row = await repository.add(
        session, {**data.model_dump(), "answered_at": data.answered_at or now, "customer_id": owner}
    )
    event = new_event(
        "profile.answered", source=SOURCE, subject=str(owner), data={"answer": to_read(row).model_dump(mode="json")}
    )
    await outbox.publish(session, [event])
    return row


async def history(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID,
    filters: ProfileAnswerFilters,
    cursor: str | None,
    limit: int,
    secret: str,
) -> tuple[list[ProfileAnswer], str | None]:
    owner = (await customers.get(session, customer_id)).id
    binding = {"customer_id": str(owner), **filters.model_dump(mode="json")}
    after = None
    if cursor:
        after = decode_cursor(cursor, binding, secret, shape=(datetime, int))
    rows = await repository.history_page(session, owner, filters.question_key, after, limit)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].answered_at.isoformat(), str(rows[-1].id)], binding, secret)
    return rows, next_cursor


async def profile(session: AsyncSession, customer_id: uuid.UUID) -> CustomerProfile:
    owner = (await customers.get(session, customer_id)).id
    rows = await repository.latest_per_question(session, owner)
    entries = [ProfileEntry.model_validate(r, from_attributes=True) for r in rows]
    return CustomerProfile(customer_id=owner, answers=entries)
