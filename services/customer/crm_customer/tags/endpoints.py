"""Tags endpoints: the positioning tag catalogue, and the tags each customer carries."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import Page, PageDep

from . import service
from .schemas import CustomerTagRead, CustomerTags, TagCreate, TagRead

router = APIRouter(prefix="/api/v1/customers", tags=["tags"])
TagKey = Annotated[str, Path(max_length=64, description="the tag's key")]


@router.get("/tags", response_model=Page[TagRead])
async def list_tags(
    session: ReadSessionDep, principal: Annotated[Principal, allow("customers:read")], page: PageDep
) -> Page[TagRead]:
    """The tag catalogue (system and user-defined), by key; cursor pagination."""
    return await service.list_tags(session, page)


@router.post("/tags", status_code=201, response_model=TagRead, responses={409: {"description": "key taken"}})
async def create_tag(
    data: TagCreate,
    session: SessionDep,
    principal: Annotated[Principal, allow("customers:write")],
    idem: IdempotencyDep,
) -> Response:
    """Add a user-defined tag to the catalogue."""
    tag = await service.create_tag(session, data)
    return await idem.respond(201, service.to_read(tag), location=f"{router.prefix}/tags/{tag.key}")


@router.delete("/tags/{key}", status_code=204, responses={409: {"description": "system tag, or still assigned"}})
async def delete_tag(
    key: TagKey,
    session: SessionDep,
    principal: Annotated[Principal, allow("customers:write")],
    idem: IdempotencyDep,
    force: Annotated[bool, Query(description="also remove the tag from every customer carrying it")] = False,
) -> Response:
    """Delete a user-defined tag; a tag still assigned needs ?force=true."""
    await service.delete_tag(session, key=key, force=force, by=principal.client_id)
    return await idem.respond(204, b"")


@router.get("/{customer_id:uuid}/tags", response_model=CustomerTags)
async def customer_tags(
    customer_id: uuid.UUID, session: ReadSessionDep, principal: Annotated[Principal, allow("customers:read")]
) -> CustomerTags:
    """The tags a customer carries, by key."""
    return CustomerTags(items=await service.customer_tags(session, customer_id))


@router.put(
    "/{customer_id:uuid}/tags/{key}", response_model=CustomerTagRead, responses={201: {"model": CustomerTagRead}}
)
async def add_tag(
    customer_id: uuid.UUID,
    key: TagKey,
    session: SessionDep,
    principal: Annotated[Principal, allow("customers:write")],
    idem: IdempotencyDep,
) -> Response:
    """Tag a customer: 201 when added, 200 when the customer already carried the tag."""
    tag, added = await service.add(session, customer_id=customer_id, key=key, by=principal.client_id)
    return await idem.respond(201 if added else 200, tag)


@router.delete("/{customer_id:uuid}/tags/{key}", status_code=204)
async def remove_tag(
    customer_id: uuid.UUID,
    key: TagKey,
    session: SessionDep,
    principal: Annotated[Principal, allow("customers:write")],
    idem: IdempotencyDep,
) -> Response:
    """Remove a tag from a customer (no change when it did not carry it)."""
    await service.remove(session, customer_id=customer_id, key=key, by=principal.client_id)
    return await idem.respond(204, b"")
