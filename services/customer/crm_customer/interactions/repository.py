"""Every query of the interactions domain."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..contacts.models import Contact
from .models import Interaction
from .schemas import InteractionFilters


async def contact_belongs(session: AsyncSession, contact_id: uuid.UUID, customer_id: uuid.UUID) -> bool:
    stmt = select(Contact.id).where(Contact.id == contact_id, Contact.customer_id == customer_id)
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def add(session: AsyncSession, values: dict[str, Any]) -> Interaction:
    interaction = Interaction(**values)
    session.add(interaction)
    await session.flush()
    await session.refresh(interaction, ["id", "created_at"])
    return interaction


async def get(session: AsyncSession, customer_id: uuid.UUID, interaction_id: uuid.UUID) -> Interaction | None:
    stmt = select(Interaction).where(Interaction.id == interaction_id, Interaction.customer_id == customer_id)
    return (await session.execute(stmt)).scalar_one_or_none()


def filtered(customer_id: uuid.UUID, filters: InteractionFilters) -> Select[Interaction]:
    """The customer's interactions the filters select, unordered."""
    stmt = select(Interaction).where(Interaction.customer_id == customer_id)
    if filters.channel:
        stmt = stmt.where(Interaction.channel == filters.channel)
    if filters.direction:
        stmt = stmt.where(Interaction.direction == filters.direction)
    if filters.from_:
        stmt = stmt.where(Interaction.occurred_at >= filters.from_)
    if filters.to:
        stmt = stmt.where(Interaction.occurred_at < filters.to)
    return stmt
