"""Every query of the contacts domain."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..complaints.models import Complaint
from ..customers.models import Customer
from ..interactions.models import Interaction
from .models import Contact


async def lock_customer(session: AsyncSession, customer_id: uuid.UUID) -> None:
    """Serialize the primary-contact changes of one customer (FOR NO KEY UPDATE: inserts that
    reference the customer are not blocked)."""
    await session.execute(select(Customer.id).where(Customer.id == customer_id).with_for_update(key_share=True))


async def add(session: AsyncSession, values: dict[str, Any]) -> Contact:
    contact = Contact(**values)
    session.add(contact)
    await session.flush()
    await session.refresh(contact)
    return contact


async def get(
    session: AsyncSession, customer_id: uuid.UUID, contact_id: uuid.UUID, *, for_update: bool = False
) -> Contact | None:
    stmt = select(Contact).where(Contact.id == contact_id, Contact.customer_id == customer_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def clear_primary(
    session: AsyncSession, customer_id: uuid.UUID, *, keep: uuid.UUID | None = None
) -> list[Contact]:
    """Unset is_primary on the customer's other contacts; return the ones changed."""
    stmt = (
        update(Contact)
        .where(Contact.customer_id == customer_id, Contact.is_primary.is_(True))
        .values(is_primary=False, version=Contact.version + 1, updated_at=func.now())
        .returning(Contact)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if keep is not None:
        stmt = stmt.where(Contact.id != keep)
    return list((await session.execute(stmt)).scalars())


async def update_fields(session: AsyncSession, contact: Contact, values: dict[str, Any]) -> Contact:
    await session.execute(
        update(Contact)
        .where(Contact.id == contact.id)
        .values(**values, version=Contact.version + 1, updated_at=func.now())
        .execution_options(synchronize_session=False)
    )
    await session.refresh(contact)
    return contact


async def is_referenced(session: AsyncSession, contact_id: uuid.UUID) -> bool:
    stmt = select(
        or_(
            exists().where(Complaint.contact_id == contact_id),
            exists().where(Interaction.contact_id == contact_id),
        )
    )
    return bool((await session.execute(stmt)).scalar())


async def remove(session: AsyncSession, contact: Contact) -> None:
    await session.execute(delete(Contact).where(Contact.id == contact.id))


def of_customer(customer_id: uuid.UUID, relation: str | None) -> Select[Contact]:
    """The customer's contacts, of one relation when given."""
    stmt = select(Contact).where(Contact.customer_id == customer_id)
    return stmt.where(Contact.relation == relation) if relation else stmt
