"""Consent endpoints: opt-in/opt-out per channel (with history) and contact preferences."""

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
from crm_shared.schemas.engagement import ConsentChannel, ConsentStatus

from . import service
from .schemas import (
    ConsentedCustomer,
    ConsentOverview,
    ConsentRead,
    ConsentRecordRead,
    ConsentSet,
    ContactPreferencesRead,
    ContactPreferencesSet,
)

router = APIRouter(prefix="/api/v1/customers", tags=["consent"])
# A machine-read id list (the campaign service pages through it): larger pages than interactive lists.
IdsLimitQuery = Annotated[int, Query(ge=1, le=1000, description="page size, default 100, at most 1000")]


@router.get("/consents", response_model=Page[ConsentedCustomer])
async def list_consented(
    request: Request,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read")],
    channel: ConsentChannel,
    status: ConsentStatus = "opted_in",
    cursor: CursorQuery = None,
    limit: IdsLimitQuery = 100,
) -> Page[ConsentedCustomer]:
    """Live customers whose current consent on `channel` is `status`, by customer id; keyset pagination."""
    rows, next_cursor = await service.consented(
        session,
        channel=channel,
        status=status,
        cursor=cursor,
        limit=limit,
        secret=request.app.state.settings.cursor_secret.get_secret_value(),
    )
    return Page[ConsentedCustomer](items=rows, next_cursor=next_cursor)


@router.get("/{customer_id:uuid}/consents", response_model=ConsentOverview)
async def get_consents(
    customer_id: uuid.UUID,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read", partner="own")],
) -> ConsentOverview:
    """Current consent per channel (unknown when never recorded), preferred channel and frequency."""
    return await service.overview(session, principal=principal, customer_id=customer_id)


@router.get("/{customer_id:uuid}/consents/history", response_model=Page[ConsentRecordRead])
async def consent_history(
    customer_id: uuid.UUID,
    request: Request,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read", partner="own")],
    channel: ConsentChannel | None = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Page[ConsentRecordRead]:
    """Every opt-in and opt-out of the customer, newest first; cursor pagination."""
    rows, next_cursor = await service.history(
        session,
        principal=principal,
        customer_id=customer_id,
        channel=channel,
        cursor=cursor,
        limit=limit,
        secret=request.app.state.settings.cursor_secret.get_secret_value(),
    )
    return Page[ConsentRecordRead](items=rows, next_cursor=next_cursor)


@router.put("/{customer_id:uuid}/consents/{channel}", response_model=ConsentRead)
async def set_consent(
    customer_id: uuid.UUID,
    channel: ConsentChannel,
    data: ConsentSet,
    session: SessionDep,
    principal: Annotated[Principal, allow("customers:write", partner="own")],
    idem: IdempotencyDep,
) -> Response:
    """Opt the customer in or out of a channel, effective at once (`consent.changed` when it changes)."""
    if (replay := await idem.claim()) is not None:
        return replay
    outcome = await service.set_consent(
        session, principal=principal, customer_id=customer_id, channel=channel, data=data
    )
    return await idem.respond(200, outcome.consent.model_dump_json().encode())


@router.put("/{customer_id:uuid}/contact-preferences", response_model=ContactPreferencesRead, responses={412: {}})
async def set_contact_preferences(
    customer_id: uuid.UUID,
    data: ContactPreferencesSet,
    session: SessionDep,
    principal: Annotated[Principal, allow("customers:write", partner="own")],
    idem: IdempotencyDep,
    if_match: Annotated[str | None, Header(alias="If-Match", description="the customer's ETag (optional)")] = None,
) -> Response:
    """Set the preferred channel and the most contacts per month (`contact_preferences.changed`)."""
    if (replay := await idem.claim()) is not None:
        return replay
    result = await service.set_preferences(
        session, principal=principal, customer_id=customer_id, data=data, if_match=parse_if_match(if_match)
    )
    return await idem.respond(200, result.model_dump_json().encode(), headers={"ETag": etag(result.version)})
