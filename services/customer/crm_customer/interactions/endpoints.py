"""Interactions endpoints: every call, email, SMS, letter, visit or chat with a customer."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import Page, PageDep

from . import service
from .schemas import InteractionCreate, InteractionFilters, InteractionRead

router = APIRouter(prefix="/api/v1/customers", tags=["interactions"])


@router.post("/{customer_id:uuid}/interactions", status_code=201, response_model=InteractionRead)
async def log_interaction(
    customer_id: uuid.UUID,
    data: InteractionCreate,
    session: SessionDep,
    principal: Annotated[Principal, allow("customers:write")],
    idem: IdempotencyDep,
) -> Response:
    """Log a contact with the customer (`interaction.logged`)."""
    interaction = await service.log(session, principal=principal, customer_id=customer_id, data=data)
    location = f"{router.prefix}/{interaction.customer_id}/interactions/{interaction.id}"
    return await idem.respond(201, service.to_read(interaction), location=location)


@router.get("/{customer_id:uuid}/interactions", response_model=Page[InteractionRead])
async def list_interactions(
    customer_id: uuid.UUID,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read")],
    page: PageDep,
    filters: Annotated[InteractionFilters, Query()],
) -> Page[InteractionRead]:
    """The customer's interactions, newest first; filters channel, direction, from/to; cursor pagination."""
    return await service.list_interactions(session, customer_id=customer_id, filters=filters, page=page)


@router.get("/{customer_id:uuid}/interactions/{interaction_id:uuid}", response_model=InteractionRead)
async def get_interaction(
    customer_id: uuid.UUID,
    interaction_id: uuid.UUID,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read")],
) -> InteractionRead:
    """One interaction of the customer."""
    return service.to_read(await service.get(session, customer_id, interaction_id))
