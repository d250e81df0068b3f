"""Consent endpoints: opt-in/opt-out per channel (with history) and contact preferences."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.etags import IfMatchDep
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import Page, PageDep, PageRequest, page_query

from . import service
from .schemas import (
    ConsentChannel,
    ConsentedCustomer,
    ConsentOverview,
    ConsentRead,
    ConsentRecordRead,
    ConsentSet,
    ConsentStatus,
    ContactPreferencesRead,
    ContactPreferencesSet,
)

router = APIRouter(prefix="/api/v1/customers", tags=["consent"])
# A machine-read id list (the campaign service pages through it): larger pages than interactive lists.
IdsPage = Annotated[PageRequest, page_query(max_limit=1000, default=100)]


@router.get("/consents", response_model=Page[ConsentedCustomer])
async def list_consented(
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read")],
    page: IdsPage,
    channel: ConsentChannel,
    status: ConsentStatus = "opted_in",
) -> Page[ConsentedCustomer]:
    """Live customers whose current consent on `channel` is `status`, by customer id; keyset pagination."""
    return await service.consented(session, channel=channel, status=status, page=page)


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
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read", partner="own")],
    page: PageDep,
    channel: ConsentChannel | None = None,
) -> Page[ConsentRecordRead]:
    """Every opt-in and opt-out of the customer, newest first; cursor pagination."""
    return await service.history(session, principal=principal, customer_id=customer_id, channel=channel, page=page)


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
    outcome = await service.set_consent(
        session, principal=principal, customer_id=customer_id, channel=channel, data=data
    )
    return await idem.respond(200, outcome.consent)


@router.put("/{customer_id:uuid}/contact-preferences", response_model=ContactPreferencesRead, responses={412: {}})
async def set_contact_preferences(
    customer_id: uuid.UUID,
    data: ContactPreferencesSet,
    session: SessionDep,
    principal: Annotated[Principal, allow("customers:write", partner="own")],
    idem: IdempotencyDep,
    if_match: IfMatchDep,
) -> Response:
    """Set the preferred channel and the most contacts per month (`contact_preferences.changed`); If-Match
    (the customer's ETag) is optional."""
    result = await service.set_preferences(
        session, principal=principal, customer_id=customer_id, data=data, if_match=if_match
    )
    return await idem.respond(200, result, version=result.version)
