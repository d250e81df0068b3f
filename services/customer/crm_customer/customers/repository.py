"""Every query of the customers domain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from crm_shared.pagination import SortKey, keyset_after

from .models import Customer, CustomerRef
from .schemas import CustomerFilters


async def get(session: AsyncSession, customer_id: uuid.UUID, *, for_update: bool = False) -> Customer | None:
    if for_update:  # lock the customer row only, then load its references
        stmt = select(Customer).where(Customer.id == customer_id).with_for_update()
        stmt = stmt.options(selectinload(Customer.external_refs))
        return (await session.execute(stmt)).scalar_one_or_none()
    stmt = select(Customer).where(Customer.id == customer_id).options(joinedload(Customer.external_refs))
    return (await session.execute(stmt)).unique().scalar_one_or_none()


async def add(session: AsyncSession, values: dict[str, Any]) -> Customer:
    customer = Customer(**values)
    session.add(customer)
    await session.flush()
    await session.refresh(customer, ["id", "version", "created_at", "updated_at"])
    return customer


async def claim_refs(
    session: AsyncSession, customer_id: uuid.UUID, refs: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Insert references for the customer; return the ones another customer already holds."""
    if not refs:
        return []
    stmt = (
        insert(CustomerRef)
        .values([{"partner": p, "external_id": e, "customer_id": customer_id} for p, e in refs])
        .on_conflict_do_nothing()
        .returning(CustomerRef.partner, CustomerRef.external_id)
    )
    won = {(r.partner, r.external_id) for r in await session.execute(stmt)}
    return [r for r in refs if r not in won]


async def load_refs(session: AsyncSession, customer: Customer) -> Customer:
    await session.refresh(customer, ["external_refs"])
    return customer


async def update_fields(session: AsyncSession, customer: Customer, values: dict[str, Any]) -> Customer:
    await session.execute(
        update(Customer)
        .where(Customer.id == customer.id)
        .values(**values, version=Customer.version + 1, updated_at=func.now())
    )
    await session.refresh(customer, ["version", "updated_at", *values])
    return customer


def _filtered(filters: CustomerFilters) -> Select[tuple[Customer]]:
    stmt = select(Customer)
    if filters.kind:
        stmt = stmt.where(Customer.kind == filters.kind)
    if filters.email:
        stmt = stmt.where(Customer.email == filters.email.strip().lower())
    if filters.phone:
        stmt = stmt.where(Customer.phone == filters.phone)
    if filters.q:
        stmt = stmt.where(Customer.display_name.ilike(f"%{_escape_like(filters.q)}%", escape="\\"))
    if filters.external_id:
        ref = select(CustomerRef.customer_id).where(CustomerRef.external_id == filters.external_id)
        if filters.partner:
            ref = ref.where(CustomerRef.partner == filters.partner)
        stmt = stmt.where(Customer.id.in_(ref))
    elif filters.partner:
        stmt = stmt.where(
            Customer.id.in_(select(CustomerRef.customer_id).where(CustomerRef.partner == filters.partner))
        )
    if filters.created_from:
        stmt = stmt.where(Customer.created_at >= filters.created_from)
    if filters.created_to:
        stmt = stmt.where(Customer.created_at < filters.created_to)
    return stmt


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_page(
    session: AsyncSession,
    filters: CustomerFilters,
    sort: Sequence[SortKey],
    after: Sequence[Any] | None,
    limit: int,
) -> list[Customer]:
    columns = [(getattr(Customer, k.field), k.descending) for k in sort] + [(Customer.id, sort[-1].descending)]
    stmt = _filtered(filters)
    if after is not None:
        stmt = stmt.where(keyset_after(columns, after))
    stmt = stmt.order_by(*(c.desc() if d else c.asc() for c, d in columns)).limit(limit + 1)
    stmt = stmt.options(selectinload(Customer.external_refs))
    return list((await session.execute(stmt)).scalars())
