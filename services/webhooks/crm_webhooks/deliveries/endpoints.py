"""Deliveries of a subscription (`/api/v1/webhooks/subscriptions/{id}/deliveries`): their status, attempts
and the receiver's last answer; replay one dead delivery or all of them; send a test ping."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import Page, PageDep

from ..subscriptions.endpoints import PREFIX
from . import service
from .runtime import WakeWorker, worker_lifespan
from .schemas import DeliveryRead, Replayed, Status

router = APIRouter(prefix=f"{PREFIX}/subscriptions/{{subscription_id}}", tags=["webhooks"], lifespan=worker_lifespan)
Read = Annotated[Principal, allow("webhooks:read", partner="own")]
Write = Annotated[Principal, allow("webhooks:write", partner="own")]


@router.get("/deliveries", response_model=Page[DeliveryRead])
async def list_deliveries(
    subscription_id: uuid.UUID,
    session: ReadSessionDep,
    principal: Read,
    page: PageDep,
    status: Annotated[Status | None, Query(description="only deliveries in this status")] = None,
) -> Page[DeliveryRead]:
    """The subscription's deliveries, newest first; cursor pagination."""
    return await service.list_deliveries(session, subscription_id, principal, page, status)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryRead)
async def get_delivery(
    subscription_id: uuid.UUID, delivery_id: uuid.UUID, session: ReadSessionDep, principal: Read
) -> DeliveryRead:
    return service.to_read(await service.get(session, subscription_id, delivery_id, principal))


@router.post("/deliveries/replay", response_model=Replayed)
async def replay_dead(
    subscription_id: uuid.UUID,
    session: SessionDep,
    principal: Write,
    idem: IdempotencyDep,
    _wake: WakeWorker,
) -> Response:
    """Queue every dead delivery of the subscription again (after the receiver is fixed)."""
    replayed = await service.replay_all(session, subscription_id, principal)
    return await idem.respond(200, Replayed(replayed=replayed))


@router.post("/deliveries/{delivery_id}/replay", response_model=DeliveryRead, responses={409: {}})
async def replay_delivery(
    subscription_id: uuid.UUID,
    delivery_id: uuid.UUID,
    session: SessionDep,
    principal: Write,
    idem: IdempotencyDep,
    _wake: WakeWorker,
) -> Response:
    """Queue one dead delivery again, its attempts from zero and its webhook-id unchanged."""
    delivery = await service.replay(session, subscription_id, delivery_id, principal)
    return await idem.respond(200, service.to_read(delivery))


@router.post("/ping", status_code=202, response_model=DeliveryRead)
async def ping(
    subscription_id: uuid.UUID,
    session: SessionDep,
    principal: Write,
    idem: IdempotencyDep,
    _wake: WakeWorker,
) -> Response:
    """Queue a signed `webhook.ping` delivery to the subscription's URL; follow it in its deliveries."""
    delivery = await service.ping(session, subscription_id, principal)
    return await idem.respond(
        202,
        service.to_read(delivery),
        location=f"{router.prefix.format(subscription_id=subscription_id)}/deliveries/{delivery.id}",
    )
