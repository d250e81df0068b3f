"""Reason rules: two taxonomies as data; users add, rename, reflag and retire reasons; a retired reason
keeps the records that cite it (history) but no record takes it anew."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.pagination import Page, PageRequest

from . import repository
from .exceptions import IfMatchRequired, ReasonExists, ReasonNotFound, StaleReason, UnusableReasons
from .models import ChurnReason
from .schemas import ReasonCreate, ReasonFilters, ReasonRead, ReasonUpdate


def to_read(reason: ChurnReason) -> ReasonRead:
    return ReasonRead.model_validate(reason)


async def list_reasons(session: AsyncSession, filters: ReasonFilters, page: PageRequest) -> Page[ReasonRead]:
    stmt = repository.catalogue(filters.taxonomy, filters.include_retired)
    return await page.fetch(
        session,
        stmt,
        order=[ChurnReason.taxonomy, ChurnReason.key],
        binding=filters.model_dump(),
        item=to_read,
    )


async def get(session: AsyncSession, key: str) -> ChurnReason:
    reason = await repository.get(session, key)
    if reason is None:
        raise ReasonNotFound(key)
    return reason


async def create(session: AsyncSession, data: ReasonCreate) -> ChurnReason:
    reason = await repository.insert_reason(session, data.model_dump())
    if reason is None:
        raise ReasonExists(data.key)
    return reason


async def update(session: AsyncSession, key: str, data: ReasonUpdate, if_match: int | None) -> ChurnReason:
    if if_match is None:
        raise IfMatchRequired()
    reason = await repository.get(session, key, for_update=True)
    if reason is None:
        raise ReasonNotFound(key)
    if reason.version != if_match:
        raise StaleReason(key, reason.version)
    changes = data.model_dump(exclude_unset=True)
    retired = changes.pop("retired", None)
    for name, value in changes.items():
        if value is not None or name == "description":
            setattr(reason, name, value)
    if retired is not None and retired != (reason.retired_at is not None):
        reason.retired_at = datetime.now(UTC) if retired else None
    reason.version += 1
    reason.updated_at = datetime.now(UTC)
    await session.flush()
    return reason


async def usable(session: AsyncSession, keys: Sequence[str], *, field: str = "reasons") -> list[str]:
    """The keys, distinct and in order, when every one names a current (not retired) reason; else 422
    naming each bad one. The reasons are held (key share) until the caller commits."""
    found = await repository.many(session, keys, for_share=True)
    problems = [
        (i, k, "is not a churn reason" if k not in found else "is retired")
        for i, k in enumerate(keys)
        if k not in found or found[k].retired_at is not None
    ]
    if problems:
        raise UnusableReasons(problems, field)
    return list(dict.fromkeys(keys))
