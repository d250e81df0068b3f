"""Webhook subscriptions (`/api/v1/webhooks/subscriptions`): create (the secret is in that answer only),
list, read, change (If-Match), delete, pause and resume, rotate the secret; and the event type catalogue.

Partners manage their own subscriptions (others' are 404 to them); staff with webhooks:write manage all."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Request, Response

from crm_shared.access import allow
from crm_shared.auth import Principal
from crm_shared.db import ReadSessionDep, SessionDep
from crm_shared.etags import IfMatchDep, etag
from crm_shared.idempotency import IdempotencyDep
from crm_shared.pagination import Page, PageDep

from ..config import Settings
from . import service
from .schemas import (
    EventTypeCatalogue,
    RotateSecret,
    SecretRotated,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionRead,
    SubscriptionUpdate,
)

PREFIX = "/api/v1/webhooks"
router = APIRouter(prefix=PREFIX, tags=["webhooks"])
Read = Annotated[Principal, allow("webhooks:read", partner="own")]
Write = Annotated[Principal, allow("webhooks:write", partner="own")]


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def location(subscription_id: uuid.UUID) -> str:
    return f"{PREFIX}/subscriptions/{subscription_id}"


@router.get("/event-types", response_model=EventTypeCatalogue)
async def event_types(principal: Read) -> EventTypeCatalogue:
    """The event types the caller may subscribe to, with the payload fields each can be filtered on."""
    return service.catalogue(principal)


@router.post("/subscriptions", status_code=201, response_model=SubscriptionCreated)
async def create_subscription(
    data: SubscriptionCreate, request: Request, session: SessionDep, principal: Write, idem: IdempotencyDep
) -> Response:
    """Subscribe a URL to event types (patterns allowed) with optional filters. The answer holds the
    signing secret, shown this once (a replay of the same Idempotency-Key shows the same answer)."""
    subscription, secret = await service.create(session, settings_of(request), data, principal)
    return await idem.respond(
        201,
        service.created(subscription, secret),
        location=location(subscription.id),
        version=subscription.version,
    )


@router.get("/subscriptions", response_model=Page[SubscriptionRead])
async def list_subscriptions(session: ReadSessionDep, principal: Read, page: PageDep) -> Page[SubscriptionRead]:
    """Subscriptions, newest first (a partner's own only); cursor pagination."""
    return await service.list_subscriptions(session, page, principal)


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionRead)
async def get_subscription(
    subscription_id: uuid.UUID, session: ReadSessionDep, principal: Read, response: Response
) -> SubscriptionRead:
    subscription = await service.get(session, subscription_id, principal)
    response.headers["ETag"] = etag(subscription.version)
    return service.to_read(subscription)


@router.patch("/subscriptions/{subscription_id}", response_model=SubscriptionRead, responses={412: {}, 428: {}})
async def update_subscription(
    subscription_id: uuid.UUID,
    data: SubscriptionUpdate,
    request: Request,
    session: SessionDep,
    principal: Write,
    idem: IdempotencyDep,
    if_match: IfMatchDep,
) -> Response:
    """Change the URL, description, event types or filters (If-Match required)."""
    subscription = await service.update(
        session, settings_of(request), subscription_id, data, principal, if_match=if_match
    )
    return await idem.respond(200, service.to_read(subscription), version=subscription.version)


@router.delete("/subscriptions/{subscription_id}", status_code=204, responses={412: {}})
async def delete_subscription(
    subscription_id: uuid.UUID, session: SessionDep, principal: Write, idem: IdempotencyDep, if_match: IfMatchDep
) -> Response:
    """Delete the subscription and its deliveries (nothing more is sent)."""
    await service.delete(session, subscription_id, principal, if_match=if_match)
    return await idem.respond(204, b"")


@router.post("/subscriptions/{subscription_id}/pause", response_model=SubscriptionRead)
async def pause_subscription(
    subscription_id: uuid.UUID, session: SessionDep, principal: Write, idem: IdempotencyDep
) -> Response:
    """Hold deliveries: events are still queued for it, and sent once it is resumed."""
    subscription = await service.set_status(session, subscription_id, principal, "paused")
    return await idem.respond(200, service.to_read(subscription), version=subscription.version)


@router.post("/subscriptions/{subscription_id}/resume", response_model=SubscriptionRead)
async def resume_subscription(
    subscription_id: uuid.UUID, session: SessionDep, principal: Write, idem: IdempotencyDep
) -> Response:
    """Send again, starting with what was queued while paused."""
    subscription = await service.set_status(session, subscription_id, principal, "active")
    return await idem.respond(200, service.to_read(subscription), version=subscription.version)


@router.post("/subscriptions/{subscription_id}/rotate-secret", response_model=SecretRotated)
async def rotate_secret(
    subscription_id: uuid.UUID,
    data: RotateSecret,
    request: Request,
    session: SessionDep,
    principal: Write,
    idem: IdempotencyDep,
) -> Response:
    """A new signing secret (in this answer only). For the overlap (default 24 h) every delivery carries
    both signatures, so the receiver can switch secrets at any time within it."""
    subscription, secret = await service.rotate_secret(
        session, settings_of(request), subscription_id, principal, overlap_seconds=data.overlap_seconds
    )
    rotated = SecretRotated(
        secret=secret,
        previous_secret_expires_at=subscription.previous_secret_expires_at,
        version=subscription.version,
    )
    return await idem.respond(200, rotated, version=subscription.version)
