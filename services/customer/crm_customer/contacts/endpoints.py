"""Contacts endpoints: the people care and outreach address on behalf of a customer."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.etags import etag, parse_if_match
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page

from . import service
from .schemas import ContactCreate, ContactFilters, ContactRead, ContactUpdate

router = APIRouter(prefix="/api/v1/customers", tags=["contacts"])
_ONE = "/{customer_id:uuid}/contacts/{contact_id:uuid}"
IfMatch = Annotated[str | None, Header(alias="If-Match", description="the ETag from a read")]


@router.post("/{customer_id:uuid}/contacts", status_code=201, response_model=ContactRead)
async def create_contact(
    customer_id: uuid.UUID,
    data: ContactCreate,
    session: SessionDep,
    principal: Annotated[Principal, allow("customers:write", partner="own", pii=True)],
    idem: IdempotencyDep,
) -> Response:
    """Add a contact to a customer (is_primary clears the previous primary contact)."""
    if (replay := await idem.claim()) is not None:
        return replay
    contact = await service.create(session, principal=principal, customer_id=customer_id, data=data)
    location = f"{router.prefix}/{contact.customer_id}/contacts/{contact.id}"
    body = service.to_read(contact).model_dump_json().encode()
    return await idem.respond(201, body, headers={"ETag": etag(contact.version), "Location": location})


@router.get("/{customer_id:uuid}/contacts", response_model=Page[ContactRead])
async def list_contacts(
    customer_id: uuid.UUID,
    request: Request,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read", partner="own", pii=True)],
    filters: Annotated[ContactFilters, Query()],
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Page[ContactRead]:
    """A customer's contacts, oldest first; cursor pagination."""
    rows, next_cursor = await service.list_contacts(
        session,
        principal=principal,
        customer_id=customer_id,
        filters=filters,
        cursor=cursor,
        limit=limit,
        secret=request.app.state.settings.cursor_secret.get_secret_value(),
    )
    return Page[ContactRead](items=[service.to_read(c) for c in rows], next_cursor=next_cursor)


@router.get(_ONE, response_model=ContactRead)
async def get_contact(
    customer_id: uuid.UUID,
    contact_id: uuid.UUID,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read", partner="own", pii=True)],
) -> Response:
    """One contact of the customer; the ETag header is what `If-Match` on an update expects."""
    contact = await service.get(session, principal=principal, customer_id=customer_id, contact_id=contact_id)
    return Response(
        service.to_read(contact).model_dump_json(),
        media_type="application/json",
        headers={"ETag": etag(contact.version)},
    )


@router.patch(_ONE, response_model=ContactRead, responses={412: {}, 428: {}})
async def update_contact(
    customer_id: uuid.UUID,
    contact_id: uuid.UUID,
    data: ContactUpdate,
    session: SessionDep,
    principal: Annotated[Principal, allow("customers:write", partner="own", pii=True)],
    idem: IdempotencyDep,
    if_match: IfMatch = None,
) -> Response:
    """Change some fields of a contact (optimistic concurrency with If-Match)."""
    if (replay := await idem.claim()) is not None:
        return replay
    contact = await service.update(
        session,
        principal=principal,
        customer_id=customer_id,
        contact_id=contact_id,
        data=data,
        if_match=parse_if_match(if_match),
    )
    body = service.to_read(contact).model_dump_json().encode()
    return await idem.respond(200, body, headers={"ETag": etag(contact.version)})


@router.delete(_ONE, status_code=204, responses={409: {"description": "complaints or interactions refer to it"}})
async def delete_contact(
    customer_id: uuid.UUID,
    contact_id: uuid.UUID,
    session: SessionDep,
    principal: Annotated[Principal, allow("customers:write", partner="own")],
    idem: IdempotencyDep,
    if_match: IfMatch = None,
) -> Response:
    """Delete a contact (If-Match optional; checked when given)."""
    if (replay := await idem.claim()) is not None:
        return replay
    await service.delete(
        session, principal=principal, customer_id=customer_id, contact_id=contact_id, if_match=parse_if_match(if_match)
    )
    return await idem.respond(204, b"")
