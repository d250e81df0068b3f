"""Order rules: ingest (one order or a batch, one code path), cancel, refund, reads, events.

Partners see and change only their own orders (`orders.partner`), and put orders only on customers
they hold a reference to: by their own reference, or by our id of such a customer (a customer several
partners reference takes orders from each of them). Any other id is answered as an unknown one."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared import outbox
from crm_shared.auth import Principal
from crm_shared.db import driver_connection
from crm_shared.errors import FieldError, Unprocessable
from crm_shared.events import new_ids
from crm_shared.pagination import Page, PageRequest

from ..customers import repository as customers_repository
from ..customers.normalize import display_name
from ..events import SOURCE, envelope
from . import repository
from .exceptions import InvalidOrderTransition, OrderNotFound
from .models import Order
from .schemas import OrderFilters, OrderIn, OrderRead
from .validation import Rejected

_json = msgspec.json.Encoder()


@dataclass(slots=True)
class IngestResult:
    """Per submitted row: created / duplicate (with the order id) or rejected (with reasons)."""

    created: dict[int, uuid.UUID] = field(default_factory=dict)
    duplicates: dict[int, uuid.UUID] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)


async def ingest(
    session: AsyncSession, *, principal: Principal, orders: Sequence[tuple[int, OrderIn]], single: bool = False
) -> IngestResult:
    """Write valid orders set-based, as `principal`'s own (its client id is the order's partner). Rows
    are sorted by external id so that concurrent batches take row locks in the same order and cannot
    deadlock each other."""
    result = IngestResult()
    if not orders:
        return result
    partner = principal.client_id
    conn = await driver_connection(session)
    rows = sorted(orders, key=lambda io: io[1].external_id)
    now = datetime.now(UTC)
    events: list[dict[str, Any]] = []

    customer_of, unresolved = await _resolve_customers(session, principal, rows, events, now, single)
    for i, order in rows:
        if i in unresolved:
            result.rejected.append(Rejected(i, order.external_id, [unresolved[i]]))
    rows = [(i, o) for i, o in rows if i not in unresolved]
    if not rows:
        return result

    ids = new_ids(len(rows))
    lines = [_json.encode(o.lines) for _, o in rows]  # encoded once: for the row and for its event
    records = [
        (oid, partner, o.external_id, customer_of[i], o.ordered_at, o.currency, o.amount, o.payment_method, o.channel,
         js.decode())
        for oid, (i, o), js in zip(ids, rows, lines, strict=True)
    ]  # fmt: skip
    inserted = await repository.insert_orders(conn, records)

    missing = [o.external_id for _, o in rows if o.external_id not in inserted]
    existing = await repository.order_ids(conn, partner, missing) if missing else {}
    stamp = now.isoformat()
    event_ids = iter(new_ids(len(inserted)))
    for (i, o), js in zip(rows, lines, strict=True):
        order_id = inserted.get(o.external_id)
        if order_id is None:
            result.duplicates[i] = existing[o.external_id]
            continue
        result.created[i] = order_id
        customer_id = customer_of[i]
        events.append(
            {
                "specversion": "1.0",
                "id": next(event_ids),
                "type": "order.created",
                "source": SOURCE,
                "time": stamp,
                "subject": customer_id,
                "datacontenttype": "application/json",
                "data": {
                    "order_id": order_id,
                    "customer_id": customer_id,
                    "partner": partner,
                    "external_id": o.external_id,
                    "ordered_at": o.ordered_at,
                    "currency": o.currency,
                    "amount": o.amount,
                    "payment_method": o.payment_method,
                    "channel": o.channel,
                    "lines": msgspec.Raw(js),
                },
            }
        )
    await outbox.publish(session, events)
    return result


async def _resolve_customers(
    session: AsyncSession,
    principal: Principal,
    rows: Sequence[tuple[int, OrderIn]],
    events: list[dict[str, Any]],
    now: datetime,
    single: bool,
) -> tuple[dict[int, uuid.UUID], dict[int, FieldError]]:
    """Map each row to a customer id: known references, our own ids, or a customer created from the
    details the order carries (with the partner's reference). Rows that cannot be resolved get a
    reason instead."""
    conn = await driver_connection(session)
    partner = principal.client_id
    customer_of: dict[int, uuid.UUID] = {}
    unresolved: dict[int, FieldError] = {}
    refs = sorted({o.customer.external_id for _, o in rows if o.customer is not None})
    known = await repository.customer_ids_for_refs(conn, partner, refs) if refs else {}
    direct = [o.customer_id for _, o in rows if o.customer_id is not None]
    # Our own ids may name a merged customer: the order lands on the survivor. (Partner references
    # need no such step: a merge moves them.)
    live = await customers_repository.resolve_customer_ids(conn, direct) if direct else {}
    if live and principal.is_partner:  # only customers the partner references; others as unknown ids
        visible = await customers_repository.visible_ids(session, principal, set(live.values()))
        live = {asked: cid for asked, cid in live.items() if cid in visible}

    to_create: dict[str, OrderIn] = {}
    for _, o in rows:
        if o.customer is not None and o.customer.external_id not in known and o.customer.has_details:
            to_create.setdefault(o.customer.external_id, o)
    if to_create:
        known.update(await _create_customers(conn, partner, to_create, events, now))

    for i, o in rows:
        if o.customer_id is not None:
            if o.customer_id in live:
                customer_of[i] = live[o.customer_id]
            else:
                unresolved[i] = FieldError(
                    detail=f"no customer with id {o.customer_id}", pointer=f"{_row(i, single)}/customer_id"
                )
        elif o.customer is not None and o.customer.external_id in known:
            customer_of[i] = known[o.customer.external_id]
        else:
            ref = o.customer.external_id if o.customer else "?"
            unresolved[i] = FieldError(
                detail=f"unknown customer reference '{ref}' and the order carries no customer details "
                "(first_name/last_name, or company_name for a company) to create it",
                pointer=f"{_row(i, single)}/customer",
            )
    return customer_of, unresolved


def _row(index: int, single: bool) -> str:
    return "#" if single else f"#/orders/{index}"


async def _create_customers(
    conn: Any, partner: str, to_create: dict[str, OrderIn], events: list[dict[str, Any]], now: datetime
) -> dict[str, uuid.UUID]:
    refs = sorted(to_create)
    won = await repository.claim_refs(conn, partner, refs, [uuid.uuid4() for _ in refs])
    lost = [r for r in refs if r not in won]
    mapping = dict(won)
    if lost:  # created concurrently by another request: use its customer
        mapping.update(await repository.customer_ids_for_refs(conn, partner, lost))
    if not won:
        return mapping
    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            "id",
            "kind",
            "display_name",
            "first_name",
            "last_name",
            "company_name",
            "email",
            "phone",
            "address",
            "time_zone",
        )
    }
    details = []
    for ref, cid in won.items():
        c = to_create[ref].customer
        assert c is not None
        address = msgspec.to_builtins(c.address) if c.address is not None else None
        values = {
            "id": cid,
            "kind": c.kind,
            "display_name": display_name(c.kind, c.first_name, c.last_name, c.company_name),
            "first_name": c.first_name,
            "last_name": c.last_name,
            "company_name": c.company_name,
            "email": c.email,
            "phone": c.phone,
            "address": address,
            "time_zone": c.time_zone,
        }
        for k, v in values.items():
            cols[k].append(_json.encode(v).decode() if k == "address" and v is not None else v)
        details.append((ref, values))
    created = {r[0]: r for r in await repository.insert_customers(conn, cols)}
    for ref, values in details:
        row = created[values["id"]]
        customer = {
            **values,
            "id": str(values["id"]),
            "external_refs": [{"partner": partner, "external_id": ref}],
            "version": row["version"],
            "created_at": row["created_at"].isoformat(),
            "updated_at": row["updated_at"].isoformat(),
        }
        events.append(
            envelope(
                "customer.created",
                subject=customer["id"],
                data={"customer": customer, "changed": []},
                time=now,
            )
        )
    return mapping


async def read_created(session: AsyncSession, order_id: uuid.UUID) -> OrderRead:
    """The order this request just created, as the API shows it."""
    values = await repository.read(await driver_connection(session), order_id)
    assert values is not None
    return OrderRead.model_validate(values)


def can_touch(principal: Principal, order: Order) -> bool:
    """Partners see and change only their own orders; staff users see all."""
    return principal.kind != "partner" or order.partner == principal.client_id


async def get(session: AsyncSession, principal: Principal, order_id: uuid.UUID, *, for_update: bool = False) -> Order:
    order = await repository.get(session, order_id, for_update=for_update)
    if order is None or not can_touch(principal, order):
        raise OrderNotFound(order_id)
    return order


async def get_by_external(session: AsyncSession, principal: Principal, partner: str, external_id: str) -> Order:
    order = await repository.get_by_external(session, partner, external_id)
    if order is None or not can_touch(principal, order):
        raise OrderNotFound(f"{partner}/{external_id}")
    return order


def _change_event(type_: str, order: Order, reason: str | None) -> dict[str, Any]:
    data = {
        "order_id": str(order.id),
        "customer_id": str(order.customer_id),
        "partner": order.partner,
        "external_id": order.external_id,
        "ordered_at": order.ordered_at.isoformat(),
        "currency": order.currency,
        "amount": str(order.amount),
        "status": order.status,
        "refunded_total": str(order.refunded_amount),
        "reason": reason,
        "at": datetime.now(UTC).isoformat(),
    }
    return envelope(type_, subject=order.customer_id, data=data)


async def _apply(session: AsyncSession, order: Order, values: dict[str, Any]) -> Order:
    await session.execute(update(Order).where(Order.id == order.id).values(**values, updated_at=func.now()))
    await session.refresh(order)
    return order


async def cancel(session: AsyncSession, principal: Principal, order_id: uuid.UUID, reason: str | None) -> Order:
    order = await get(session, principal, order_id, for_update=True)
    if order.status != "created":
        raise InvalidOrderTransition(order.status, "cancel")
    await _apply(session, order, {"status": "cancelled", "cancelled_at": func.now(), "cancel_reason": reason})
    await outbox.publish(session, [_change_event("order.cancelled", order, reason)])
    return order


async def refund(
    session: AsyncSession,
    principal: Principal,
    order_id: uuid.UUID,
    amount: Decimal | None,
    reason: str | None,
) -> Order:
    order = await get(session, principal, order_id, for_update=True)
    if order.status not in ("created", "partially_refunded"):
        raise InvalidOrderTransition(order.status, "refund")
    left = order.amount - order.refunded_amount
    amount = left if amount is None else amount
    if amount > left or amount <= 0:
        raise Unprocessable(
            f"refund of {amount} exceeds what is left to refund ({left})",
            errors=[FieldError(detail=f"at most {left}", pointer="#/amount")],
        )
    total = order.refunded_amount + amount
    status = "refunded" if total == order.amount else "partially_refunded"
    await _apply(session, order, {"status": status, "refunded_amount": total})
    await outbox.publish(session, [_change_event("order.refunded", order, reason)])
    return order


def to_read(order: Order) -> OrderRead:
    return OrderRead.model_validate(order)


async def list_orders(
    session: AsyncSession, principal: Principal, *, filters: OrderFilters, descending: bool, page: PageRequest
) -> Page[OrderRead]:
    if principal.kind == "partner":
        filters = filters.model_copy(update={"partner": principal.client_id})
    order = (Order.ordered_at, Order.id)
    return await page.fetch(
        session,
        repository.filtered(filters),
        order=[c.desc() if descending else c.asc() for c in order],
        binding=filters.model_dump(mode="json"),
        item=to_read,
    )
