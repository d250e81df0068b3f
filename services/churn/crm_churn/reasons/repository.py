"""Every query of the reasons domain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .models import ChurnReason


async def get(session: AsyncSession, key: str, *, for_update: bool = False) -> ChurnReason | None:
    stmt = select(ChurnReason).where(ChurnReason.key == key)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def many(session: AsyncSession, keys: Sequence[str], *, for_share: bool = False) -> dict[str, ChurnReason]:
    """for_share (FOR KEY SHARE): no one retires or deletes them until the caller commits."""
    stmt = select(ChurnReason).where(ChurnReason.key.in_(list(keys)))
    if for_share:
        stmt = stmt.with_for_update(read=True, key_share=True)
    return {r.key: r for r in (await session.execute(stmt)).scalars()}


def catalogue(taxonomy: str | None, include_retired: bool) -> Select[ChurnReason]:
    stmt = select(ChurnReason)
    if taxonomy is not None:
        stmt = stmt.where(ChurnReason.taxonomy == taxonomy)
    if not include_retired:
        stmt = stmt.where(ChurnReason.retired_at.is_(None))
    return stmt


async def insert_reason(session: AsyncSession, values: dict[str, Any]) -> ChurnReason | None:
    """The new reason, or None when the key is taken."""
    stmt = insert(ChurnReason).values(**values, system=False).on_conflict_do_nothing().returning(ChurnReason)
    return (await session.execute(stmt)).scalar_one_or_none()
