"""Customer rules: naming, external references, who sees which customer, optimistic concurrency, events.

Partners see and change only the customers they hold a reference to (`repository.visible_to`); any
other customer answers exactly as an unknown id does (404), so a partner cannot even learn that it
exists. Staff users and services see every customer."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared import outbox
from crm_shared.auth import Principal
from crm_shared.db import driver_connection
from crm_shared.errors import FieldError, Unprocessable
from crm_shared.pagination import Page, PageRequest, SortKey, ordering
from crm_shared.pii import SHOW_PII

from ..events import envelope
from . import repository
from .exceptions import CustomerNotFound, ExternalRefTaken, IfMatchRequired, StaleCustomer
from .models import Customer
from .normalize import display_name
from .schemas import CustomerCreate, CustomerFilters, CustomerRead, CustomerUpdate, ExternalRef


def to_read(customer: Customer, principal: Principal | None = None) -> CustomerRead:
    """The API view; a partner sees only its own references (another partner's ids for a customer
    they share are that partner's business)."""
    read = CustomerRead.model_validate(customer)
    if principal is not None and principal.is_partner:
        own = [r for r in read.external_refs if r.partner == principal.client_id]
        read = read.model_copy(update={"external_refs": own})
    return read


def customer_event(type_: str, customer: Customer, changed: Sequence[str] = ()) -> dict[str, Any]:
    # Events carry the real values to the services that need them, whoever made the change.
    data = {"customer": to_read(customer).model_dump(mode="json", context=SHOW_PII), "changed": list(changed)}
    return envelope(type_, subject=customer.id, data=data)


async def live_ids(
    session: AsyncSession, ids: Sequence[uuid.UUID], *, lock: repository.LockMode | None = "KEY SHARE"
) -> dict[uuid.UUID, uuid.UUID]:
    """Each existing id -> the live customer it stands for (itself, or the survivor of its merge), the
    live rows locked as `lock` says until commit; unknown ids are left out. No visibility check."""
    return await repository.resolve_customer_ids(await driver_connection(session), ids, lock=lock)


async def live_customer_id(
    session: AsyncSession,
    customer_id: uuid.UUID,
    *,
    lock: repository.LockMode | None = "KEY SHARE",
    principal: Principal | None = None,
) -> uuid.UUID:
    """The live customer an id stands for (merged ids resolve to the survivor), locked as `lock` says
    until commit; 404 when unknown, or when `principal` (pass it on endpoints partners may call) may
    not see it."""
    live = (await live_ids(session, [customer_id], lock=lock)).get(customer_id)
    if live is None:
        raise CustomerNotFound(customer_id)
    await ensure_visible(session, principal, live, customer_id)
    return live


async def ensure_visible(
    session: AsyncSession, principal: Principal | None, live_id: uuid.UUID, asked_id: uuid.UUID
) -> None:
    """404, the same answer as for an unknown id, unless `principal` may see the live customer that
    `asked_id` resolved to. `principal` None: an endpoint partners may not call (no restriction)."""
    if principal is None or not principal.is_partner:
        return
    if not await repository.visible_ids(session, principal, [live_id]):
        raise CustomerNotFound(asked_id)


def _check_own_refs(principal: Principal, refs: Sequence[ExternalRef]) -> None:
    """A partner claims references in its own name only, and at least one: without it the partner
    could never see the customer it creates."""
    if not principal.is_partner:
        return
    errors = [
        FieldError(
            detail=f"a partner may only claim references as '{principal.client_id}'",
            pointer=f"#/external_refs/{i}/partner",
        )
        for i, ref in enumerate(refs)
        if ref.partner != principal.client_id
    ]
    if not refs:
        errors.append(
            FieldError(
                detail=f"give at least one reference of your own (partner '{principal.client_id}')",
                pointer="#/external_refs",
            )
        )
    if errors:
        raise Unprocessable("invalid external_refs", errors=errors)


async def _check_company(
    session: AsyncSession,
    *,
    principal: Principal,
    kind: str,
    company_id: uuid.UUID | None,
    customer_id: uuid.UUID | None = None,
) -> None:
    """An individual may belong to a company customer: an existing, unmerged customer of kind company
    that the caller may see (a company a partner may not see is answered as unknown)."""
    if company_id is None:
        return
    problem = None
    if kind == "company":
        problem = "a company customer cannot belong to a company"
    elif company_id == customer_id:
        problem = "a customer cannot belong to itself"
    else:
        company = await repository.get_company_state(session, company_id, principal)
        if company is None:
            problem = f"no customer with id {company_id}"
        elif company.kind != "company":
            problem = "the customer named is not a company"
        elif company.merged_into is not None:
            problem = f"the company was merged into {company.merged_into}; use that id"
    if problem:
        raise Unprocessable("invalid company_id", errors=[FieldError(detail=problem, pointer="#/company_id")])


async def create(session: AsyncSession, *, principal: Principal, data: CustomerCreate) -> Customer:
    _check_own_refs(principal, data.external_refs)
    await _check_company(session, principal=principal, kind=data.kind, company_id=data.company_id)
    values = data.model_dump(exclude={"external_refs"})
    values["display_name"] = display_name(data.kind, data.first_name, data.last_name, data.company_name)
    customer = await repository.add(session, values)
    refs = list(dict.fromkeys((r.partner, r.external_id) for r in data.external_refs))
    taken = await repository.claim_refs(session, customer.id, refs)
    if taken:
        raise ExternalRefTaken(*taken[0])
    await repository.load_refs(session, customer)
    await outbox.publish(session, [customer_event("customer.created", customer)])
    return customer


async def get(session: AsyncSession, customer_id: uuid.UUID, *, principal: Principal | None = None) -> Customer:
    """The customer, or the survivor when `customer_id` was merged (then `.id != customer_id`: answer
    with `Content-Location: /api/v1/customers/<survivor id>`). Pass the caller as `principal` on every
    endpoint partners may call: a customer the partner may not see is then not found."""
    customer = await repository.get(session, customer_id)
    if customer is None or (principal is not None and not repository.sees(principal, customer)):
        raise CustomerNotFound(customer_id)
    return customer


async def update(
    session: AsyncSession, *, principal: Principal, customer_id: uuid.UUID, data: CustomerUpdate, if_match: int | None
) -> Customer:
    if if_match is None:
        raise IfMatchRequired()
    customer = await repository.get(session, customer_id, for_update=True)
    if customer is None or not repository.sees(principal, customer):  # before the version: 404, never 412
        raise CustomerNotFound(customer_id)
    if customer.version != if_match:
        raise StaleCustomer(customer.version)
    changes = data.model_dump(exclude_unset=True)
    changed = [k for k, v in changes.items() if getattr(customer, k) != v]
    if not changed:
        return customer
    if "company_id" in changed:
        await _check_company(
            session, principal=principal, kind=customer.kind, company_id=changes["company_id"], customer_id=customer.id
        )
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


WALK_PER_ROW = 100  # `q=` reads up to this many rows per row of the page before it turns to the name index


async def list_customers(
    session: AsyncSession, *, principal: Principal, filters: CustomerFilters, sort: Sequence[SortKey], page: PageRequest
) -> Page[CustomerRead]:
    order = [getattr(Customer, k.field).desc() if k.descending else getattr(Customer, k.field) for k in sort]
    order.append(Customer.id.desc() if sort[-1].descending else Customer.id)  # unique: ties break the same way
    binding = filters.model_dump(mode="json")

    async def fetch(stmt: Select[Customer]) -> Page[CustomerRead]:
        return await page.fetch(session, stmt, order=order, binding=binding, item=lambda c: to_read(c, principal))

    if filters.q:
        # A name common enough fills the page from the first rows of the list's order; a rarer one is found
        # from the name grams' index. Each path reads few rows where it is used: the walk at most
        # WALK_PER_ROW * (limit + 1), the index (for a q that matches under 1 row in WALK_PER_ROW) the
        # names holding q's pieces. PostgreSQL cannot choose between them itself: it multiplies q's piece
        # frequencies as if they were independent (they overlap), so a q matching 3.6% of 1M names was
        # planned as 66 rows and read 36,000 through the index (450 ms) instead of walking 1,400 (8 ms).
        rows, after = page.limit + 1, page.position(binding, order)
        walk = repository.name_walk(filters, principal, ordering(order), after, rows=rows, bound=WALK_PER_ROW * rows)
        walked = await fetch(walk)
        if walked.next_cursor is not None:  # a full page
            return walked
    return await fetch(repository.filtered(filters, principal))


async def list_members(
    session: AsyncSession, *, principal: Principal, company_id: uuid.UUID, page: PageRequest
) -> Page[CustomerRead]:
    """The individuals that belong to a company (none for an individual) that the caller may see."""
    company = await get(session, company_id, principal=principal)
    return await page.fetch(
        session,
        repository.members_of(company.id, principal),
        order=(Customer.display_name, Customer.id),
        binding={"members_of": str(company.id)},
        item=lambda c: to_read(c, principal),
    )
