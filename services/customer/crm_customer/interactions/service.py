"""Interaction rules: every contact with a customer is logged, against the live customer."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared import outbox
from crm_shared.auth import Principal
from crm_shared.pagination import Page, PageRequest

from ..customers.service import live_customer_id
from ..events import envelope
from . import repository
from .exceptions import ContactNotOfCustomer, InteractionNotFound
from .models import Interaction
from .schemas import InteractionCreate, InteractionFilters, InteractionRead


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
    event = envelope(
        "interaction.logged",
        subject=live,
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
    session: AsyncSession, *, customer_id: uuid.UUID, filters: InteractionFilters, page: PageRequest
) -> Page[InteractionRead]:
    live = await live_customer_id(session, customer_id, lock=None)
    return await page.fetch(
        session,
        repository.filtered(live, filters),
        order=(Interaction.occurred_at.desc(), Interaction.id.desc()),
        binding={"customer": str(live), **filters.model_dump(mode="json")},
        item=to_read,
    )
