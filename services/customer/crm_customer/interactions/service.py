"""Interaction rules: every contact with a customer is logged, against the live customer."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared import outbox
from crm_shared.auth import Principal
from crm_shared.events import new_event
from crm_shared.pagination import decode_cursor, encode_cursor

from ..hygiene.service import live_customer_id
from . import repository
from .exceptions import ContactNotOfCustomer, InteractionNotFound
from .models import Interaction
from .schemas import InteractionCreate, InteractionFilters, InteractionRead

SOURCE = "/services/customer"


def to_read(interaction: Interaction) -> InteractionRead:
    return InteractionRead.model_validate(interaction)


async def log(
    session: AsyncSession, *, principal: Principal, customer_id: uuid.UUID, data: InteractionCreate
) -> Interaction:
    live = await live_customer_id(session, customer_id)
    if data.contact_id is not None and not await repository.contact_belongs(session, data.contact_id, live):
        raise ContactNotOfCustomer(data.contact_id)
    values = data.model_dump()
    if values["staff"] is None and principal.kind == "user":
        values["staff"] = principal.client_id
    interaction = await repository.add(session, {**values, "customer_id": live})
    event = new_event(
        "interaction.logged",
        source=SOURCE,
        subject=str(live),
        data={"interaction_id": str(interaction.id), **to_read(interaction).model_dump(mode="json", exclude={"id"})},
    )
    event["data"].pop("created_at")
    await outbox.publish(session, [event])
    return interaction


async def get(session: AsyncSession, customer_id: uuid.UUID, interaction_id: uuid.UUID) -> Interaction:
    live = await live_customer_id(session, customer_id, lock=None)
    interaction = await repository.get(session, live, interaction_id)
    if interaction is None:
        raise InteractionNotFound(interaction_id)
    return interaction


async def list_interactions(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID,
    filters: InteractionFilters,
    cursor: str | None,
    limit: int,
    secret: str,
) -> tuple[list[Interaction], str | None]:
    live = await live_customer_id(session, customer_id, lock=None)
    binding = {"customer": str(live), **filters.model_dump(mode="json")}
    after = None
    if cursor:
        after = decode_cursor(cursor, binding, secret, shape=(datetime, uuid.UUID))
    rows = await repository.list_page(session, live, filters, after, limit)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].occurred_at.isoformat(), str(rows[-1].id)], binding, secret)
    return rows, next_cursor
