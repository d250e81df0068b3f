"""Customer endpoints: thin handlers, the rules live in service.py."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.bounds import Instant
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.etags import IfMatchDep, etag
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import Page, PageDep, parse_sort
from crm_shared.pii import PII_SCOPE

from . import export, service
from .schemas import SORTABLE, CustomerCreate, CustomerFilters, CustomerRead, CustomerUpdate

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])


@router.post("", status_code=201, response_model=CustomerRead, responses={409: {"description": "reference taken"}})
async def create_customer(
    data: CustomerCreate,
    session: SessionDep,
    principal: Annotated[Principal, allow("customers:write", partner="own", pii=True)],
    idem: IdempotencyDep,
) -> Response:
    """Create an individual or company customer, with partners' external references."""
    customer = await service.create(session, principal=principal, data=data)
    read = service.to_read(customer, principal)
    return await idem.respond(201, read, location=f"{router.prefix}/{customer.id}", version=customer.version)


@router.get("/export", response_class=StreamingResponse, responses={200: {"content": {"application/x-ndjson": {}}}})
async def export_customers(
    request: Request,
    principal: Annotated[Principal, allow("customers:read", partner="own", pii=True)],
    after: Annotated[uuid.UUID | None, Query(description="resume after this id (the last line's `id`)")] = None,
    updated_since: Instant | None = None,
) -> StreamingResponse:
    """Stream every customer you may see as NDJSON (one customer read per line, merged ones with
    `merged_into`), by id; contact data unmasked with pii:read. Resume with `after` = the last id."""
    stream = export.ndjson(
        request.app.state.read_sessionmaker,
        principal,
        after=after,
        since=updated_since,
        page_size=request.app.state.settings.export_page_size,
        show_pii=PII_SCOPE in principal.scopes,
    )
    return StreamingResponse(stream, media_type="application/x-ndjson")


@router.get("", response_model=Page[CustomerRead])
async def list_customers(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read", partner="own", pii=True)],
    page: PageDep,
    filters: Annotated[CustomerFilters, Query()],
    sort: Annotated[str | None, Query(description="e.g. -created_at or +display_name")] = None,
) -> Page[CustomerRead]:
    """List customers with filters, newest first by default; cursor pagination."""
    keys = parse_sort(sort, SORTABLE, "-created_at")
    return await service.list_customers(session, principal=principal, filters=filters, sort=keys, page=page)


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
    if_match: IfMatchDep,
) -> Response:
    """Change some fields of a customer (optimistic concurrency with If-Match)."""
    customer = await service.update(session, principal=principal, customer_id=customer_id, data=data, if_match=if_match)
    return await idem.respond(200, service.to_read(customer, principal), version=customer.version)


@router.get("/{customer_id:uuid}/members", response_model=Page[CustomerRead])
async def list_members(
    customer_id: uuid.UUID,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read", partner="own", pii=True)],
    page: PageDep,
) -> Page[CustomerRead]:
    """The individual customers that belong to a company, by name; cursor pagination."""
    return await service.list_members(session, principal=principal, company_id=customer_id, page=page)
