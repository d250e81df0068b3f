"""Every query of the tags domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .models import CustomerTag, Tag

_ASSIGNED = (Tag.key, Tag.label, Tag.system, CustomerTag.source, CustomerTag.added_by, CustomerTag.added_at)


async def get_tag(session: AsyncSession, key: str, *, for_update: bool = False, for_share: bool = False) -> Tag | None:
    """for_update: to delete it; for_share (FOR KEY SHARE): to assign it while no one deletes it."""
    stmt = select(Tag).where(Tag.key == key)
    if for_update:
        stmt = stmt.with_for_update()
    elif for_share:
        stmt = stmt.with_for_update(read=True, key_share=True)
    return (await session.execute(stmt)).scalar_one_or_none()


def catalogue() -> Select[Tag]:
    return select(Tag)


async def insert_tag(session: AsyncSession, values: dict[str, Any]) -> Tag | None:
    """The new tag, or None when the key is taken."""
    stmt = insert(Tag).values(**values, system=False).on_conflict_do_nothing().returning(Tag)
    return (await session.execute(stmt)).scalar_one_or_none()


async def count_assigned(session: AsyncSession, key: str) -> int:
    return (await session.execute(select(func.count()).where(CustomerTag.tag_key == key))).scalar_one()


async def remove_assignments(session: AsyncSession, key: str) -> list[Row[tuple[uuid.UUID, str]]]:
    stmt = delete(CustomerTag).where(CustomerTag.tag_key == key).returning(CustomerTag.customer_id, CustomerTag.source)
    return list(await session.execute(stmt))


async def delete_tag(session: AsyncSession, key: str) -> None:
    await session.execute(delete(Tag).where(Tag.key == key))


async def customer_tags(session: AsyncSession, customer_id: uuid.UUID) -> list[Row[Any]]:
    stmt = (
        select(*_ASSIGNED)
        .join(CustomerTag, CustomerTag.tag_key == Tag.key)
        .where(CustomerTag.customer_id == customer_id)
        .order_by(Tag.key)
    )
    return list(await session.execute(stmt))


async def customer_tag(
    session: AsyncSession, customer_id: uuid.UUID, key: str
) -> Row[str, str, bool, str, str | None, datetime] | None:
    stmt = (
        select(*_ASSIGNED)
        .join(CustomerTag, CustomerTag.tag_key == Tag.key)
        .where(CustomerTag.customer_id == customer_id, CustomerTag.tag_key == key)
    )
    return (await session.execute(stmt)).one_or_none()


async def assign(session: AsyncSession, customer_id: uuid.UUID, key: str, *, source: str, by: str | None) -> bool:
    """Add the tag to the customer; False when it already carried it."""
    stmt = (
        insert(CustomerTag)
        .values(customer_id=customer_id, tag_key=key, source=source, added_by=by)
        .on_conflict_do_nothing()
        .returning(CustomerTag.tag_key)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def unassign(session: AsyncSession, customer_id: uuid.UUID, key: str) -> str | None:
    """Remove the tag from the customer; the assignment's source, or None when it was not there."""
    stmt = (
        delete(CustomerTag)
        .where(CustomerTag.customer_id == customer_id, CustomerTag.tag_key == key)
        .returning(CustomerTag.source)
    )
    return (await session.execute(stmt)).scalar_one_or_none()
