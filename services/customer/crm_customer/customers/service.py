"""Customer rules: naming, external references, optimistic concurrency, events."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared import outbox
from crm_shared.auth import Principal
from crm_shared.errors import FieldError, Unprocessable
from crm_shared.events import new_event
from crm_shared.pagination import SortKey, decode_cursor, encode_cursor
from crm_shared.schemas.customers import display_name

from . import repository
from .exceptions import CustomerNotFound, ExternalRefTaken, IfMatchRequired, StaleCustomer
from .models import Customer
from .schemas import CustomerCreate, CustomerFilters, CustomerRead, CustomerUpdate

SOURCE = "/services/customer"


def to_read(customer: Customer) -> CustomerRead:
    return CustomerRead.model_validate(customer)


def customer_event(type_: str, customer: Customer, changed: Sequence[str] = ()) -> dict[str, Any]:
    data = {"customer": to_read(customer).model_dump(mode="json"), "changed": list(changed)}
    return new_event(type_, source=SOURCE, subject=str(customer.id), data=data)


async def create(session: AsyncSession, *, principal: Principal, data: CustomerCreate) -> Customer:
    values = data.model_dump(exclude={"external_refs"}, mode="json")
    values["display_name"] = display_name(data.kind, data.first_name, data.last_name, data.company_name)
    customer = await repository.add(session, values)
    refs = list(dict.fromkeys((r.partner, r.external_id) for r in data.external_refs))
    taken = await repository.claim_refs(session, customer.id, refs)
    if taken:
        raise ExternalRefTaken(*taken[0])
    await repository.load_refs(session, customer)
    await outbox.publish(session, [customer_event("customer.created", customer)])
    return customer


async def get(session: AsyncSession, customer_id: uuid.UUID) -> Customer:
    customer = await repository.get(session, customer_id)
    if customer is None:
        raise CustomerNotFound(customer_id)
    return customer


async def update(
    session: AsyncSession, *, customer_id: uuid.UUID, data: CustomerUpdate, if_match: int | None
) -> Customer:
    if if_match is None:
        raise IfMatchRequired()
    customer = await repository.get(session, customer_id, for_update=True)
    if customer is None:
        raise CustomerNotFound(customer_id)
    if customer.version != if_match:
        raise StaleCustomer(customer.version)
    changes = data.model_dump(exclude_unset=True, mode="json")
    changed = [k for k, v in changes.items() if getattr(customer, k) != v]
    if not changed:
        return customer
    values = {k: changes[k] for k in changed}
    merged = {f: values.get(f, getattr(customer, f)) for f in ("first_name", "last_name", "company_name")}
    name = display_name(customer.kind, merged["first_name"], merged["last_name"], merged["company_name"])
    if not name:
        raise Unprocessable(
            "the update would leave the customer without a name",
            errors=[FieldError(detail="a name is required", pointer="#/" + changed[0])],
        )
    values["display_name"] = name
    await repository.update_fields(session, customer, values)
    await outbox.publish(session, [customer_event("customer.updated", customer, changed)])
    return customer


def _cursor_position(sort: Sequence[SortKey], raw: list[Any]) -> list[Any]:
    kinds = [k.field for k in sort] + ["id"]
    out: list[Any] = []
    for field, value in zip(kinds, raw, strict=True):
        if field == "created_at":
            out.append(datetime.fromisoformat(value))
        elif field == "id":
            out.append(uuid.UUID(value))
        else:
            out.append(value)
    return out


async def list_customers(
    session: AsyncSession,
    *,
    filters: CustomerFilters,
    sort: Sequence[SortKey],
    cursor: str | None,
    limit: int,
    secret: str,
) -> tuple[list[Customer], str | None]:
    binding = {**filters.model_dump(mode="json"), "sort": [(k.field, k.descending) for k in sort]}
    after = _cursor_position(sort, decode_cursor(cursor, binding, secret)) if cursor else None
    rows = await repository.list_page(session, filters, sort, after, limit)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        position = [getattr(last, k.field) for k in sort] + [last.id]
        next_cursor = encode_cursor(
            [p.isoformat() if isinstance(p, datetime) else str(p) for p in position], binding, secret
        )
    return rows, next_cursor
