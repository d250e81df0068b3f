"""Customer endpoints: thin handlers, the rules live in service.py."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.etags import etag, parse_if_match
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page, parse_sort

from . import service
from .schemas import SORTABLE, CustomerCreate, CustomerFilters, CustomerRead, CustomerUpdate

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])


@router.post("", status_code=201, response_model=CustomerRead, responses={409: {"description": "reference taken"}})
async def create_customer(
    data: CustomerCreate,
    session: SessionDep,
    principal: Annotated[Principal, allow("customers:write", partner="own", pii=True)],
    idem: IdempotencyDep,
    request: Request,
) -> Response:
    """Create an individual or company customer, with partners' external references."""
    if (replay := await idem.claim()) is not None:
        return replay
    customer = await service.create(session, principal=principal, data=data)
    body = service.to_read(customer, principal).model_dump_json().encode()
    return await idem.respond(
        201, body, headers={"ETag": etag(customer.version), "Location": f"{router.prefix}/{customer.id}"}
    )


@router.get("", response_model=Page[CustomerRead])
async def list_customers(
    request: Request,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read", partner="own", pii=True)],
    filters: Annotated[CustomerFilters, Query()],
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    sort: Annotated[str | None, Query(description="e.g. -created_at or +display_name")] = None,
) -> Page[CustomerRead]:
    """List customers with filters, newest first by default; cursor pagination."""
    keys = parse_sort(sort, SORTABLE, "-created_at")
    rows, next_cursor = await service.list_customers(
        session,
        principal=principal,
        filters=filters,
        sort=keys,
        cursor=cursor,
        limit=limit,
        secret=request.app.state.settings.cursor_secret.get_secret_value(),
    )
    return Page[CustomerRead](items=[service.to_read(c, principal) for c in rows], next_cursor=next_cursor)


@router.get("/{customer_id:uuid}", response_model=CustomerRead)
async def get_customer(
    customer_id: uuid.UUID,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read", partner="own", pii=True)],
) -> Response:
    """One customer; the ETag header is what `If-Match` on an update expects. A merged id answers with
    the survivor (and `Content-Location` naming it)."""
    customer = await service.get(session, customer_id, principal=principal)
    headers = {"ETag": etag(customer.version)}
    if customer.id != customer_id:  # a merged id: this is the survivor, which has its own address
        headers["Content-Location"] = f"{router.prefix}/{customer.id}"
    return Response(
        service.to_read(customer, principal).model_dump_json(), media_type="application/json", headers=headers
    )


@router.patch("/{customer_id:uuid}", response_model=CustomerRead, responses={412: {}, 428: {}})
async def update_customer(
    customer_id: uuid.UUID,
    data: CustomerUpdate,
    session: SessionDep,
    principal: Annotated[Principal, allow("customers:write", partner="own", pii=True)],
    idem: IdempotencyDep,
    if_match: Annotated[str | None, Header(alias="If-Match", description="the ETag from a read")] = None,
) -> Response:
    """Change some fields of a customer (optimistic concurrency with If-Match)."""
    if (replay := await idem.claim()) is not None:
        return replay
    customer = await service.update(
        session, principal=principal, customer_id=customer_id, data=data, if_match=parse_if_match(if_match)
    )
    body = service.to_read(customer, principal).model_dump_json().encode()
    return await idem.respond(200, body, headers={"ETag": etag(customer.version)})


@router.get("/{customer_id:uuid}/members", response_model=Page[CustomerRead])
async def list_members(
    customer_id: uuid.UUID,
    request: Request,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read", partner="own", pii=True)],
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Page[CustomerRead]:
    """The individual customers that belong to a company, by name; cursor pagination."""
    rows, next_cursor = await service.list_members(
        session,
        principal=principal,
        company_id=customer_id,
        cursor=cursor,
        limit=limit,
        secret=request.app.state.settings.cursor_secret.get_secret_value(),
    )
    return Page[CustomerRead](items=[service.to_read(c, principal) for c in rows], next_cursor=next_cursor)
