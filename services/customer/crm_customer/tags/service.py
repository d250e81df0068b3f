"""Tag rules: a catalogue with protected system tags; idempotent assignment per customer; events."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared import outbox
from crm_shared.pagination import Page, PageRequest

from ..customers import service as customers
from ..events import envelope
from . import repository
from .exceptions import SystemTag, TagExists, TagInUse, TagNotFound
from .models import Tag
from .schemas import CustomerTagRead, TagCreate, TagRead


def to_read(tag: Tag) -> TagRead:
    return TagRead.model_validate(tag)


def _event(type_: str, customer_id: uuid.UUID, key: str, source: str, by: str | None) -> dict[str, Any]:
    data = {"customer_id": str(customer_id), "tag_key": key, "source": source, "by": by}
    return envelope(type_, subject=customer_id, data=data)


async def list_tags(session: AsyncSession, page: PageRequest) -> Page[TagRead]:
    return await page.fetch(
        session, repository.catalogue(), order=[Tag.key], binding={"catalogue": "tags"}, item=to_read
    )


async def create_tag(session: AsyncSession, data: TagCreate) -> Tag:
    tag = await repository.insert_tag(session, data.model_dump())
    if tag is None:
        raise TagExists(data.key)
    return tag


async def delete_tag(session: AsyncSession, *, key: str, force: bool, by: str) -> None:
    """Delete a user-defined tag; with force, remove it from the customers that carry it first."""
    tag = await repository.get_tag(session, key, for_update=True)  # holds off new assignments
    if tag is None:
        raise TagNotFound(key)
    if tag.system:
        raise SystemTag(key)
    if not force:
        assigned = await repository.count_assigned(session, key)
        if assigned:
            raise TagInUse(key, assigned)
    removed = await repository.remove_assignments(session, key)
    await repository.delete_tag(session, key)
    await outbox.publish(session, [_event("tag.removed", r.customer_id, key, r.source, by) for r in removed])


async def customer_tags(session: AsyncSession, customer_id: uuid.UUID) -> list[CustomerTagRead]:
    owner = (await customers.get(session, customer_id)).id
    return [CustomerTagRead.model_validate(r) for r in await repository.customer_tags(session, owner)]


async def add(session: AsyncSession, *, customer_id: uuid.UUID, key: str, by: str) -> tuple[CustomerTagRead, bool]:
    """Tag the customer (idempotent); True when the tag was new for the customer."""
    owner = (await customers.get(session, customer_id)).id
    if await repository.get_tag(session, key, for_share=True) is None:
        raise TagNotFound(key)
    added = await repository.assign(session, owner, key, source="manual", by=by)
    if added:
        await outbox.publish(session, [_event("tag.added", owner, key, "manual", by)])
    row = await repository.customer_tag(session, owner, key)
    return CustomerTagRead.model_validate(row), added


async def remove(session: AsyncSession, *, customer_id: uuid.UUID, key: str, by: str) -> None:
    """Untag the customer (idempotent: removing a tag it does not carry changes nothing)."""
    owner = (await customers.get(session, customer_id)).id
    if await repository.get_tag(session, key) is None:
        raise TagNotFound(key)
    source = await repository.unassign(session, owner, key)
    if source is not None:
        await outbox.publish(session, [_event("tag.removed", owner, key, source, by)])
