"""Subscription rules: who owns one and may change it, what it may select, secrets and their rotation.

A partner sees and changes only its own subscriptions (anyone else's is a 404 to it); staff with
webhooks:write manage every one, except that a subscription receiving personal data is changed only by
a caller holding pii:read (else its URL could be pointed elsewhere by someone who may not see the data)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.auth import Principal
from crm_shared.etags import NO_MATCH
from crm_shared.pagination import Page, PageRequest
from crm_shared.pii import PII_SCOPE

from ..catalogue import PARTNER_TYPES, PII_TYPES, Audience, filter_fields
from ..config import Settings
from ..signing import new_secret
from . import repository
from .exceptions import (
    IfMatchRequired,
    InvalidSubscription,
    PersonalDataSubscription,
    StaleSubscription,
    SubscriptionNotFound,
    TooManySubscriptions,
)
from .models import Subscription
from .rules import normalize_filters, pattern_problems, selected_types, url_problems
from .schemas import (
    EventTypeCatalogue,
    EventTypeInfo,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionRead,
    SubscriptionUpdate,
)


def audience_of(principal: Principal) -> Audience:
    """What a subscription created by `principal` may receive."""
    if principal.is_partner:
        return Audience(partner=principal.client_id, pii=False)
    return Audience(partner=None, pii=principal.has(PII_SCOPE))


def audience(subscription: Subscription) -> Audience:
    return Audience(partner=subscription.partner, pii=subscription.pii)


def to_read(subscription: Subscription) -> SubscriptionRead:
    return SubscriptionRead.model_validate(subscription)


def catalogue(principal: Principal) -> EventTypeCatalogue:
    return EventTypeCatalogue(
        items=[
            EventTypeInfo(
                type=t,
                filter_fields=sorted(filter_fields(t)),
                partner_attributed=t in PARTNER_TYPES,
                personal_data=t in PII_TYPES,
            )
            for t in audience_of(principal).visible_types()
        ]
    )


def _checked(
    settings: Settings, target: Audience, *, url: str | None, patterns: list[str], filters: dict[str, Any]
) -> dict[str, Any]:
    """The filters normalized, once url, patterns and filters are valid together; else 422 naming each."""
    errors = []
    if url is not None:
        errors += url_problems(url, allow_http=settings.allow_http, allow_private_hosts=settings.allow_private_hosts)
    pattern_errors = pattern_problems(patterns, target)
    errors += pattern_errors
    normalized: dict[str, Any] = {}
    if not pattern_errors:
        normalized, filter_errors = normalize_filters(filters, selected_types(patterns, target))
        errors += filter_errors
    if errors:
        raise InvalidSubscription(errors)
    return normalized


async def create(
    session: AsyncSession, settings: Settings, data: SubscriptionCreate, principal: Principal
) -> tuple[Subscription, str]:
    target = audience_of(principal)
    filters = _checked(settings, target, url=data.url, patterns=data.event_types, filters=data.filters)
    limit = settings.max_subscriptions_per_partner
    if target.partner is not None and await repository.count_of_partner(session, target.partner) >= limit:
        raise TooManySubscriptions(limit)
    secret = new_secret()
    subscription = await repository.add(
        session,
        {
            "url": data.url,
            "description": data.description,
            "event_types": list(dict.fromkeys(data.event_types)),
            "filters": filters,
            "owner_kind": principal.kind,
            "owner_id": principal.client_id,
            "partner": target.partner,
            "pii": target.pii,
            "secret_sealed": settings.secret_box().seal(secret),
        },
    )
    return subscription, secret


def created(subscription: Subscription, secret: str) -> SubscriptionCreated:
    return SubscriptionCreated.model_validate({**to_read(subscription).model_dump(), "secret": secret})


async def get(
    session: AsyncSession, subscription_id: uuid.UUID, principal: Principal, *, lock: bool = False
) -> Subscription:
    partner = principal.client_id if principal.is_partner else None
    subscription = await repository.get(session, subscription_id, partner=partner, lock=lock)
    if subscription is None:
        raise SubscriptionNotFound(subscription_id)
    return subscription


async def for_change(
    session: AsyncSession, subscription_id: uuid.UUID, principal: Principal, *, if_match: int | None = None
) -> Subscription:
    """The subscription, locked, once the caller may change it (and its If-Match, when given, matches)."""
    subscription = await get(session, subscription_id, principal, lock=True)
    if subscription.pii and not principal.has(PII_SCOPE):
        raise PersonalDataSubscription()
    if if_match is not None and (if_match == NO_MATCH or if_match != subscription.version):
        raise StaleSubscription(subscription.version)
    return subscription


def _touch(subscription: Subscription) -> None:
    subscription.version += 1
    subscription.updated_at = datetime.now(UTC)


async def update(
    session: AsyncSession,
    settings: Settings,
    subscription_id: uuid.UUID,
    data: SubscriptionUpdate,
    principal: Principal,
    *,
    if_match: int | None,
) -> Subscription:
    if if_match is None:
        raise IfMatchRequired()
    subscription = await for_change(session, subscription_id, principal, if_match=if_match)
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None or k == "description"}
    patterns = changes.get("event_types", subscription.event_types)
    changes["filters"] = _checked(
        settings,
        audience(subscription),
        url=changes.get("url"),
        patterns=patterns,
        filters=changes.get("filters", subscription.filters),
    )
    if "event_types" in changes:
        changes["event_types"] = list(dict.fromkeys(patterns))
    for key, value in changes.items():
        setattr(subscription, key, value)
    _touch(subscription)
    await session.flush()
    return subscription


async def delete(
    session: AsyncSession, subscription_id: uuid.UUID, principal: Principal, *, if_match: int | None
) -> None:
    """Delete it with its deliveries (If-Match optional: when given, it must match)."""
    subscription = await for_change(session, subscription_id, principal, if_match=if_match)
    await repository.delete(session, subscription)


async def set_status(
    session: AsyncSession, subscription_id: uuid.UUID, principal: Principal, status: str
) -> Subscription:
    """Pause or resume; the same status again changes nothing."""
    subscription = await for_change(session, subscription_id, principal)
    if subscription.status != status:
        subscription.status = status
        _touch(subscription)
        await session.flush()
    return subscription


async def rotate_secret(
    session: AsyncSession,
    settings: Settings,
    subscription_id: uuid.UUID,
    principal: Principal,
    *,
    overlap_seconds: int | None,
) -> tuple[Subscription, str]:
    """A new secret; the current one keeps signing beside it for the overlap (none: it stops at once)."""
    subscription = await for_change(session, subscription_id, principal)
    overlap = timedelta(
        seconds=overlap_seconds if overlap_seconds is not None else settings.rotation_overlap_hours * 3600
    )
    secret = new_secret()
    if overlap > timedelta(0):
        subscription.previous_secret_sealed = subscription.secret_sealed
        subscription.previous_secret_expires_at = datetime.now(UTC) + overlap
    else:
        subscription.previous_secret_sealed = subscription.previous_secret_expires_at = None
    subscription.secret_sealed = settings.secret_box().seal(secret)
    _touch(subscription)
    await session.flush()
    return subscription, secret


async def list_subscriptions(session: AsyncSession, page: PageRequest, principal: Principal) -> Page[SubscriptionRead]:
    partner = principal.client_id if principal.is_partner else None
    return await page.fetch(
        session,
        repository.listed(partner),
        order=(Subscription.created_at.desc(), Subscription.id.desc()),
        binding={"partner": partner},
        item=to_read,
    )
