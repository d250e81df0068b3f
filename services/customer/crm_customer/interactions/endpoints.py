"""Interactions endpoints: every call, email, SMS, letter, visit or chat with a customer."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page

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
    if (replay := await idem.claim()) is not None:
        return replay
    interaction = await service.log(session, principal=principal, customer_id=customer_id, data=data)
    body = service.to_read(interaction).model_dump_json().encode()
    location = f"{router.prefix}/{interaction.customer_id}/interactions/{interaction.id}"
    return await idem.respond(201, body, headers={"Location": location})


@router.get("/{customer_id:uuid}/interactions", response_model=Page[InteractionRead])
async def list_interactions(
    customer_id: uuid.UUID,
    request: Request,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read")],
    filters: Annotated[InteractionFilters, Query()],
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Page[InteractionRead]:
    """The customer's interactions, newest first; filters channel, direction, from/to; cursor pagination."""
    rows, next_cursor = await service.list_interactions(
        session,
        customer_id=customer_id,
        filters=filters,
        cursor=cursor,
        limit=limit,
        secret=request.app.state.settings.cursor_secret.get_secret_value(),
    )
    return Page[InteractionRead](items=[service.to_read(i) for i in rows], next_cursor=next_cursor)


@router.get("/{customer_id:uuid}/interactions/{interaction_id:uuid}", response_model=InteractionRead)
async def get_interaction(
    customer_id: uuid.UUID,
    interaction_id: uuid.UUID,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read")],
) -> InteractionRead:
    """One interaction of the customer."""
    return service.to_read(await service.get(session, customer_id, interaction_id))
