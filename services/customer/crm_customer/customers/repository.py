"""Every query of the customers domain."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any, Literal

import asyncpg
from sqlalchemy import ColumnElement, Row, Select, Text, and_, any_, bindparam, exists, func, select, true, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, joinedload, selectinload

from crm_shared.auth import Principal
from crm_shared.db import driver_connection
from crm_shared.pagination import Ordering, keyset_after

from ..tags.models import CustomerTag
from .models import Customer, CustomerRef
from .schemas import CustomerFilters


def visible_to(principal: Principal) -> ColumnElement[bool]:
    """The customers `principal` may see, as a WHERE clause on `customers`: a partner those it holds a
    reference to (a merge moves references to the survivor, so it then sees the survivor); staff
    users and services every customer. An EXISTS probing ix_customer_refs_customer_id per row, so a
    page of a large list stops as soon as it is full, and nothing is loaded."""
    if not principal.is_partner:
        return true()
    return exists().where(CustomerRef.customer_id == Customer.id, CustomerRef.partner == principal.client_id)


def sees(principal: Principal, customer: Customer) -> bool:
    """`visible_to` for a customer loaded with its references (as `get` loads it): no query."""
    return not principal.is_partner or any(r.partner == principal.client_id for r in customer.external_refs)


async def visible_ids(session: AsyncSession, principal: Principal, ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Those of `ids` that `principal` may see, in one statement however many there are."""
    if not principal.is_partner or not ids:
        return set(ids)
    wanted = bindparam("ids", list(ids), type_=ARRAY(UUID(as_uuid=True)))
    stmt = select(Customer.id).where(Customer.id == any_(wanted), visible_to(principal))
    return set((await session.execute(stmt)).scalars())


MAX_MERGE_HOPS = 8  # a merge repoints earlier merges, so one hop is the norm; the bound only guards bad data
LockMode = Literal["KEY SHARE", "SHARE", "NO KEY UPDATE", "UPDATE"]


async def resolve_customer_ids(
    conn: asyncpg.Connection, ids: Sequence[uuid.UUID], *, lock: LockMode | None = "KEY SHARE"
) -> dict[uuid.UUID, uuid.UUID]:
    """Map each existing id to the live customer it resolves to: itself, or the survivor of the merge
    that folded it. Unknown ids are left out. The one walk along `merged_into` of the service.

    With a lock (default FOR KEY SHARE: what a foreign key takes, so it never blocks other writers)
    the live rows are locked until commit, so a merge cannot fold them between this look-up and the
    caller's insert; a merge already running is waited for, and its outcome is seen."""
    suffix = f" FOR {lock}" if lock else ""
    sql = f"SELECT id, merged_into FROM customers WHERE id = ANY($1::uuid[]) ORDER BY id{suffix}"
    out: dict[uuid.UUID, uuid.UUID] = {}
    pending = {i: i for i in dict.fromkeys(ids)}  # asked id -> id to look up next
    for _ in range(MAX_MERGE_HOPS):
        if not pending:
            break
        rows = {r["id"]: r["merged_into"] for r in await conn.fetch(sql, list(set(pending.values())))}
        nxt: dict[uuid.UUID, uuid.UUID] = {}
        for asked, current in pending.items():
            if current not in rows:
                continue
            if rows[current] is None:
                out[asked] = current
            else:
                nxt[asked] = rows[current]
        pending = nxt
    return out


# Built once with a bound id: building the statement and its cache key on every read cost ~300 us of the
# ~2,200 us of CPU a customer read took in the service (bench/gateway/profile_read.py, issue 13).
_BY_ID = select(Customer).where(Customer.id == bindparam("customer_id"))
READ_BY_ID = _BY_ID.options(joinedload(Customer.external_refs))
# Lock the customer row only, then load its references.
LOCK_BY_ID = _BY_ID.with_for_update().options(selectinload(Customer.external_refs))


async def _load(session: AsyncSession, customer_id: uuid.UUID, *, for_update: bool) -> Customer | None:
    params = {"customer_id": customer_id}
    if for_update:
        return (await session.execute(LOCK_BY_ID, params)).scalar_one_or_none()
    return (await session.execute(READ_BY_ID, params)).unique().scalar_one_or_none()


async def get(
    session: AsyncSession, customer_id: uuid.UUID, *, for_update: bool = False, resolve_merged: bool = True
) -> Customer | None:
    """A customer by id. A merged id resolves to its survivor (compare `.id` with the id asked for);
    `resolve_merged=False` returns the merged row itself. One query for a live id, the common case."""
    customer = await _load(session, customer_id, for_update=for_update)
    if customer is None or customer.merged_into is None or not resolve_merged:
        return customer
    survivors = await resolve_customer_ids(
        await driver_connection(session), [customer.merged_into], lock="UPDATE" if for_update else None
    )
    live = survivors.get(customer.merged_into)
    return None if live is None else await _load(session, live, for_update=for_update)


async def get_company_state(
    session: AsyncSession, customer_id: uuid.UUID, principal: Principal
) -> Row[str, uuid.UUID | None] | None:
    """Kind and merge state of a customer another one wants to belong to; None when unknown or not
    visible to `principal`."""
    stmt = select(Customer.kind, Customer.merged_into).where(Customer.id == customer_id, visible_to(principal))
    return (await session.execute(stmt)).one_or_none()


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


def filtered(filters: CustomerFilters, principal: Principal) -> Select[Customer]:
    """The customers the filters select that `principal` may see, with their references, unordered."""
    stmt = select(Customer).where(visible_to(principal)).options(selectinload(Customer.external_refs))
    if not filters.include_merged:
        stmt = stmt.where(Customer.merged_into.is_(None))
    if filters.kind:
        stmt = stmt.where(Customer.kind == filters.kind)
    if filters.email:
        stmt = stmt.where(Customer.email == filters.email.strip().lower())
    if filters.phone:
        stmt = stmt.where(Customer.phone == filters.phone)
    if filters.q:
        stmt = stmt.where(name_contains(filters.q))
    if filters.external_id or filters.partner:
        ref = select(CustomerRef.customer_id)
        if filters.external_id:
            ref = ref.where(CustomerRef.external_id == filters.external_id)
        if filters.partner:
            ref = ref.where(CustomerRef.partner == filters.partner)
        if principal.is_partner:  # a partner searches its own references only, never another's ids
            ref = ref.where(CustomerRef.partner == principal.client_id)
        stmt = stmt.where(Customer.id.in_(ref))
    if filters.company_id:
        stmt = stmt.where(Customer.company_id == filters.company_id)
    if filters.payment_terms:
        stmt = stmt.where(Customer.payment_terms == filters.payment_terms)
    if filters.tag:
        stmt = stmt.where(exists().where(CustomerTag.customer_id == Customer.id, CustomerTag.tag_key == filters.tag))
    if filters.created_from:
        stmt = stmt.where(Customer.created_at >= filters.created_from)
    if filters.created_to:
        stmt = stmt.where(Customer.created_at < filters.created_to)
    return stmt


def name_contains(q: str) -> ColumnElement[bool]:
    """Names containing `q` in any case (`display_name ILIKE '%q%'`), found from the name grams' GIN index
    (models.py ix_customers_name_grams): every 2/3-character piece of lower(q) is among the name's, then the
    ILIKE rechecks, so the rows are exactly the ILIKE's and only the names sharing q's pieces are read."""
    grams = func.customer_name_grams(Customer.display_name, type_=ARRAY(Text))
    return and_(
        grams.contains(func.customer_query_grams(q, type_=ARRAY(Text))),
        _name_like(Customer.display_name, q),
    )


def name_walk(
    filters: CustomerFilters,
    principal: Principal,
    columns: Ordering,
    after: Sequence[Any] | None,
    *,
    rows: int,
    bound: int,
) -> Select[Customer]:
    """`filtered` for a `q=` page read along the list's order index: the first `rows` customers whose name
    contains q among the first `bound` after `after` (in the order of `columns`) that the other filters select.
    The walk stops at whichever comes first, so it reads at most `bound` rows whatever q matches; the caller
    turns to the name grams' index when it found less than `rows`."""
    assert filters.q is not None
    rest = filtered(filters.model_copy(update={"q": None}), principal)
    walk = select(Customer.id, Customer.display_name).where(
        rest.whereclause if rest.whereclause is not None else true()
    )
    if after is not None:
        walk = walk.where(keyset_after(columns, after))
    head = walk.order_by(*(col.desc() if desc else col.asc() for col, desc in columns)).limit(bound).subquery()
    # LIMIT on the filtered head: PostgreSQL pulls head rows only until `rows` matched.
    matches = select(head.c.id).where(_name_like(head.c.display_name, filters.q)).limit(rows)
    return rest.where(Customer.id.in_(matches))


def _name_like(name: ColumnElement[str] | InstrumentedAttribute[str], q: str) -> ColumnElement[bool]:
    """What `q=` means: `name ILIKE '%q%'` with q's LIKE wildcards taken literally."""
    return name.ilike(f"%{_escape_like(q)}%", escape="\\")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def members_of(company_id: uuid.UUID, principal: Principal) -> Select[Customer]:
    """Unmerged individuals of a company that `principal` may see, with their references, unordered."""
    stmt = select(Customer).where(
        Customer.company_id == company_id, Customer.merged_into.is_(None), visible_to(principal)
    )
    return stmt.options(selectinload(Customer.external_refs))
