"""Order endpoints: partners push one order or a batch; staff and partners read, cancel, refund."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.bounds import INT64_MAX, Instant
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.errors import Unprocessable
from crm_shared.idempotency import IdempotencyDep
from crm_shared.input_guard import checks_text_per_row
from crm_shared.pagination import Page, PageDep, parse_sort
from crm_shared.text import suspicious

from . import export, service, validation
from .exceptions import OrderExists
from .schemas import BatchResult, OrderCancel, OrderFilters, OrderRead, OrderRefund, request_body

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])
_EXAMPLE = {
    "external_id": "SO-10001",
    "customer": {"external_id": "C-77", "first_name": "Ana", "last_name": "Ruiz", "email": "ana@example.com"},
    "ordered_at": "2026-11-20T10:15:00Z",
    "currency": "EUR",
    "amount": "59.90",
    "payment_method": "card",
    "channel": "web",
    "lines": [{"sku": "TEA-01", "quantity": "2", "unit_price": "29.95", "product_line": "tea"}],
}
_encode = msgspec.json.Encoder().encode


def _results(outcome: service.IngestResult, external_ids: dict[int, str | None], total: int) -> bytes:
    rows: list[dict] = [{}] * total
    for i, oid in outcome.created.items():
        rows[i] = {"index": i, "external_id": external_ids[i], "status": "created", "order_id": oid}
    for i, oid in outcome.duplicates.items():
        rows[i] = {"index": i, "external_id": external_ids[i], "status": "duplicate", "order_id": oid}
    for r in outcome.rejected:
        rows[r.index] = {
            "index": r.index,
            "external_id": r.external_id,
            "status": "rejected",
            "errors": r.errors,
        }
    return _encode(
        {
            "created": len(outcome.created),
            "duplicates": len(outcome.duplicates),
            "rejected": len(outcome.rejected),
            "results": rows,
        }
    )


@router.post(
    "/batch",
    response_model=BatchResult,
    openapi_extra=request_body("OrderBatchIn", {"orders": [_EXAMPLE]}),
    responses={413: {"description": "more than 5,000 orders, or a larger body than the service takes"}},
)
@checks_text_per_row  # a row with a control character is refused on its own
async def push_batch(
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, allow("orders:write", partner="own")],
    idem: IdempotencyDep,
) -> Response:
    """Push up to 5,000 orders. Each row is answered on its own: created, duplicate (already pushed,
    with its id) or rejected (with the reasons); a bad row never sinks the batch."""
    body = await request.body()
    raw_rows = validation.split_batch(body)
    valid, rejected = validation.decode_rows(raw_rows, check_text=suspicious(body))
    outcome = await service.ingest(session, principal=principal, orders=valid)
    outcome.rejected.extend(rejected)
    ids = {i: o.external_id for i, o in valid} | {r.index: r.external_id for r in rejected}
    return await idem.respond(200, _results(outcome, ids, len(raw_rows)))


@router.post(
    "",
    status_code=201,
    response_model=OrderRead,
    openapi_extra=request_body("OrderIn", _EXAMPLE),
    responses={409: {"description": "this (partner, external_id) was already pushed"}},
)
async def push_order(
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, allow("orders:write", partner="own")],
    idem: IdempotencyDep,
) -> Response:
    """Push one order. An unknown customer reference creates the customer when the order carries
    the customer's details, and is rejected otherwise."""
    order_in = validation.decode_one(await request.body())
    outcome = await service.ingest(session, principal=principal, orders=[(0, order_in)], single=True)
    if outcome.rejected:
        raise Unprocessable("the order cannot be accepted", errors=outcome.rejected[0].errors)
    if 0 in outcome.duplicates:
        raise OrderExists(order_in.external_id, outcome.duplicates[0])
    order = await service.get(session, principal, outcome.created[0])
    return await idem.respond(201, service.to_read(order), location=f"{router.prefix}/{order.id}")


@router.get("", response_model=Page[OrderRead])
async def list_orders(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("orders:read", partner="own")],
    page: PageDep,
    filters: Annotated[OrderFilters, Query()],
    sort: Annotated[str | None, Query(description="-ordered_at (default) or +ordered_at")] = None,
) -> Page[OrderRead]:
    """List orders, newest first by default; cursor pagination."""
    (key,) = parse_sort(sort, ("ordered_at",), "-ordered_at")
    return await service.list_orders(session, principal, filters=filters, descending=key.descending, page=page)


@router.get("/export", response_class=StreamingResponse, responses={200: {"content": {"application/x-ndjson": {}}}})
async def export_orders(
    request: Request,
    principal: Annotated[Principal, allow("orders:read", partner="own")],
    after: Annotated[int, Query(ge=0, le=INT64_MAX, description="resume after this `seq` (0: from the start)")] = 0,
    updated_since: Instant | None = None,
) -> StreamingResponse:
    """Stream every order as NDJSON in insertion order (`seq`); resume with `after` = the last seq."""
    partner = principal.client_id if principal.kind == "partner" else None
    stream = export.ndjson(
        request.app.state.engine,
        after,
        partner=partner,
        since=updated_since,
        page_size=request.app.state.settings.export_page_size,
    )
    return StreamingResponse(stream, media_type="application/x-ndjson")


@router.get("/by-external/{external_id}", response_model=OrderRead)
async def get_by_external(
    external_id: str,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("orders:read", partner="own")],
    partner: Annotated[str | None, Query(description="staff only; partners use their own")] = None,
) -> OrderRead:
    """An order by the pushing partner's own id."""
    owner = principal.client_id if principal.kind == "partner" or partner is None else partner
    return service.to_read(await service.get_by_external(session, principal, owner, external_id))


@router.get("/{order_id}", response_model=OrderRead)
async def get_order(
    order_id: uuid.UUID, session: ReadSessionDep, principal: Annotated[Principal, allow("orders:read", partner="own")]
) -> OrderRead:
    """One order."""
    return service.to_read(await service.get(session, principal, order_id))


@router.post("/{order_id}/cancel", response_model=OrderRead, responses={409: {"description": "not cancellable"}})
async def cancel_order(
    order_id: uuid.UUID,
    data: OrderCancel,
    session: SessionDep,
    principal: Annotated[Principal, allow("orders:write", partner="own")],
    idem: IdempotencyDep,
) -> Response:
    """Cancel an order: it no longer counts for value and scoring (`order.cancelled`)."""
    order = await service.cancel(session, principal, order_id, data.reason)
    return await idem.respond(200, service.to_read(order))


@router.post("/{order_id}/refund", response_model=OrderRead, responses={409: {"description": "not refundable"}})
async def refund_order(
    order_id: uuid.UUID,
    data: OrderRefund,
    session: SessionDep,
    principal: Annotated[Principal, allow("orders:write", partner="own")],
    idem: IdempotencyDep,
) -> Response:
    """Refund all or part of an order (`order.refunded`)."""
    order = await service.refund(session, principal, order_id, data.amount, data.reason)
    return await idem.respond(200, service.to_read(order))
