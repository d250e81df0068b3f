"""Deliveries of a subscription: listed with their status, replayed when dead, and a test ping."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.auth import Principal
from crm_shared.events import new_ids
from crm_shared.pagination import Page, PageRequest

from ..subscriptions import service as subscriptions
from . import repository
from .exceptions import DeliveryNotFound, NotDead
from .handlers import body
from .models import Delivery
from .schemas import DeliveryRead, Status

PING = "webhook.ping"  # not an event of the suite: the type of a test delivery


def to_read(delivery: Delivery) -> DeliveryRead:
    return DeliveryRead.model_validate(delivery)


async def list_deliveries(
    session: AsyncSession, subscription_id: uuid.UUID, principal: Principal, page: PageRequest, status: Status | None
) -> Page[DeliveryRead]:
    await subscriptions.get(session, subscription_id, principal)
    return await page.fetch(
        session,
        repository.listed(subscription_id, status),
        order=(Delivery.created_at.desc(), Delivery.id.desc()),
        binding={"subscription": str(subscription_id), "status": status},
        item=to_read,
    )


async def get(
    session: AsyncSession, subscription_id: uuid.UUID, delivery_id: uuid.UUID, principal: Principal
) -> Delivery:
    await subscriptions.get(session, subscription_id, principal)
    delivery = await repository.get(session, subscription_id, delivery_id)
    if delivery is None:
        raise DeliveryNotFound(delivery_id)
    return delivery


async def replay(
    session: AsyncSession, subscription_id: uuid.UUID, delivery_id: uuid.UUID, principal: Principal
) -> Delivery:
    """A dead delivery queued again, attempts from zero (same webhook-id: the receiver can tell)."""
    await subscriptions.for_change(session, subscription_id, principal)
    delivery = await repository.get(session, subscription_id, delivery_id, lock=True)
    if delivery is None:
        raise DeliveryNotFound(delivery_id)
    if delivery.status != "dead":
        raise NotDead(delivery.status)
    await repository.replay_dead(session, subscription_id, delivery_id)
    await repository.refresh(session, delivery)
    return delivery


async def replay_all(session: AsyncSession, subscription_id: uuid.UUID, principal: Principal) -> int:
    await subscriptions.for_change(session, subscription_id, principal)
    return await repository.replay_dead(session, subscription_id, None)


async def ping(session: AsyncSession, subscription_id: uuid.UUID, principal: Principal) -> Delivery:
    """A `webhook.ping` delivery, sent and retried like any other (paused: once resumed)."""
    subscription = await subscriptions.for_change(session, subscription_id, principal)
    delivery_id, event_id = new_ids(2)
    now = datetime.now(UTC).isoformat()
    data = {"subscription_id": str(subscription.id), "message": "test delivery"}
    message = (event_id, PING, body(PING, now, data, event_id))
    await repository.insert(session, [message], [(delivery_id, subscription.id, event_id, PING)])
    delivery = await repository.get(session, subscription.id, delivery_id)
    assert delivery is not None
    return delivery
