"""Profiles endpoints: short profile questions answered over time, and the resulting profile."""

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
from .schemas import CustomerProfile, ProfileAnswerFilters, ProfileAnswerIn, ProfileAnswerRead

router = APIRouter(prefix="/api/v1/customers", tags=["profiles"])


@router.post("/{customer_id:uuid}/profile-answers", status_code=201, response_model=ProfileAnswerRead)
async def record_answer(
    customer_id: uuid.UUID,
    data: ProfileAnswerIn,
    session: SessionDep,
    principal: Annotated[Principal, allow("customers:write")],
    idem: IdempotencyDep,
) -> Response:
    """Record a customer's answer to a profile question."""
    row = await service.answer(session, customer_id=customer_id, data=data)
    return await idem.respond(201, service.to_read(row))


@router.get("/{customer_id:uuid}/profile-answers", response_model=Page[ProfileAnswerRead])
async def list_answers(
    customer_id: uuid.UUID,
    session: ReadSessionDep,
    principal: Annotated[Principal, allow("customers:read")],
    page: PageDep,
    filters: Annotated[ProfileAnswerFilters, Query()],
) -> Page[ProfileAnswerRead]:
    """A customer's answers, newest first; cursor pagination."""
    return await service.history(session, customer_id=customer_id, filters=filters, page=page)


@router.get("/{customer_id:uuid}/profile", response_model=CustomerProfile)
async def get_profile(
    customer_id: uuid.UUID, session: ReadSessionDep, principal: Annotated[Principal, allow("customers:read")]
) -> CustomerProfile:
    """The latest answer to each question, with when and through which channel."""
    return await service.profile(session, customer_id)
