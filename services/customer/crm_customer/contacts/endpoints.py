"""Contacts endpoints: the people care and outreach address on behalf of a customer."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.etags import IfMatchDep, etag
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import Page, PageDep

from . import service
from .schemas import ContactCreate, ContactFilters, ContactRead, ContactUpdate

router = APIRouter(prefix="/api/v1/customers", tags=["contacts"])
_ONE = "/{customer_id:uuid}/contacts/{contact_id:uuid}"


@router.post("/{customer_id:uuid}/contacts", status_code=201, response_model=ContactRead)
async def create_contact(
    customer_id: uuid.UUID,
    data: ContactCreate,
    session: SessionDep,
    principal: Annotated[Principal, allow("customers:write", partner="own", pii=True)],
    idem: IdempotencyDep,
) -> Response:
    """Add a contact to a customer (is_primary clears the previous primary contact)."""
    contact = await service.create(session, principal=principal, customer_id=customer_id, data=data)
    location = f"{router.prefix}/{contact.customer_id}/contacts/{contact.id}"
    return await idem.respond(201, service.to_read(contact), location=location, version=contact.version)


@router.get("/{customer_id:uuid}/contacts", response_model=Page[ContactRead])
async def list_contacts(
    customer_id: uuid.UUID,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read", partner="own", pii=True)],
    page: PageDep,
    filters: Annotated[ContactFilters, Query()],
) -> Page[ContactRead]:
    """A customer's contacts, oldest first; cursor pagination."""
    return await service.list_contacts(
        session, principal=principal, customer_id=customer_id, filters=filters, page=page
    )


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
    if_match: IfMatchDep,
) -> Response:
    """Change some fields of a contact (optimistic concurrency with If-Match)."""
    contact = await service.update(
        session, principal=principal, customer_id=customer_id, contact_id=contact_id, data=data, if_match=if_match
    )
    return await idem.respond(200, service.to_read(contact), version=contact.version)


@router.delete(_ONE, status_code=204, responses={409: {"description": "complaints or interactions refer to it"}})
async def delete_contact(
    customer_id: uuid.UUID,
    contact_id: uuid.UUID,
    session: SessionDep,
    principal: Annotated[Principal, allow("customers:write", partner="own")],
    idem: IdempotencyDep,
    if_match: IfMatchDep,
) -> Response:
    """Delete a contact (If-Match optional; checked when given)."""
    await service.delete(
        session, principal=principal, customer_id=customer_id, contact_id=contact_id, if_match=if_match
    )
    return await idem.respond(204, b"")
