"""Watchlist rules: who is on it and why, sorted by value at risk (CLV x churn risk) after the priority
tier (key accounts with repeated complaints, one unresolved); each reason links to its evidence."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.db import driver_connection
from crm_shared.errors import NotFound
from crm_shared.pagination import Page, PageRequest

from . import repository, settings_store
from .models import WatchEntry
from .schemas import Evidence, WatchEntryRead, WatchlistFilters, WatchlistSettings, WatchReason

SETTINGS = settings_store.Document("watchlist", WatchlistSettings)


async def load_settings(session: AsyncSession) -> settings_store.Stored[WatchlistSettings]:
    return await SETTINGS.load(session)


async def replace_settings(
    session: AsyncSession, body: object, *, if_match: int | None, by: str
) -> settings_store.Stored[WatchlistSettings]:
    """Store new thresholds and re-derive every entry's flags with them (one statement)."""
    stored, changed = await SETTINGS.replace(session, body, if_match=if_match, by=by)
    if changed:
        await repository.refresh_flags(await driver_connection(session), None, stored.settings)
    return stored


def _year_start(now: datetime) -> datetime:
    return datetime(now.year, 1, 1, tzinfo=UTC)


def _links(customer_id: uuid.UUID, *rels: str) -> list[Evidence]:
    href = {
        "customer": f"/api/v1/customers/{customer_id}",
        "scores": f"/api/v1/scores/customers/{customer_id}",
        "complaints": f"/api/v1/complaints?customer_id={customer_id}",
        "interactions": f"/api/v1/customers/{customer_id}/interactions",
        "orders": f"/api/v1/orders?customer_id={customer_id}",
    }
    return [Evidence(rel=rel, href=href[rel]) for rel in rels]


def reasons(entry: WatchEntry, settings: WatchlistSettings, now: datetime) -> list[WatchReason]:
    """Why the customer is on the list, each reason with the API paths that show its evidence."""
    c = entry.customer_id
    out: list[WatchReason] = []
    if entry.declining:
        detail = "lifecycle stage: decline" if entry.stage == "decline" else ""
        if entry.fall >= settings.falling_share:
            fall = f"value fell {entry.fall:.0%} at the last score change"
            detail = f"{detail}; {fall}" if detail else fall
        out.append(WatchReason(signal="declining", detail=detail, evidence=_links(c, "scores", "orders")))
    if entry.open_complaints > 0:
        detail = f"{entry.open_complaints} unresolved complaint(s) of {entry.complaints}"
        if entry.tier == 1:
            detail += "; a key account complaining repeatedly"
        out.append(WatchReason(signal="complaints", detail=detail, evidence=_links(c, "complaints")))
    if entry.gold and (entry.last_order_at is None or entry.last_order_at < _year_start(now)):
        last = entry.last_order_at.date().isoformat() if entry.last_order_at else "none known"
        detail = (
            f"one of last year's largest customers (gold), no order since {_year_start(now).year} began (last: {last})"
        )
        out.append(WatchReason(signal="lapsed_top", detail=detail, evidence=_links(c, "orders", "scores")))
    if entry.narrow:
        detail = f"buys only {entry.product_lines} product line(s) over {entry.orders} orders"
        out.append(WatchReason(signal="narrow_lines", detail=detail, evidence=_links(c, "orders")))
    if entry.quiet_since is not None and entry.quiet_since < now - timedelta(days=settings.silence_days):
        days = (now - entry.quiet_since).days
        last = entry.last_interaction_at.date().isoformat() if entry.last_interaction_at else "never"
        detail = f"no interaction for {days} days (last: {last}): lack of communication, the most common cause"
        out.append(WatchReason(signal="silent", detail=detail, evidence=_links(c, "interactions", "customer")))
    return out


def to_read(entry: WatchEntry, settings: WatchlistSettings, now: datetime) -> WatchEntryRead:
    found = reasons(entry, settings, now)
    return WatchEntryRead(
        customer_id=entry.customer_id,
        value_at_risk=entry.value_at_risk,
        clv=entry.clv,
        churn_risk=entry.churn_risk,
        priority=entry.tier == 1,
        abc_class=entry.abc_class,
        stage=entry.stage,
        region=entry.region,
        listed=entry.listed and bool(found),
        reasons=found,
        updated_at=entry.updated_at,
    )


def signal_clock(settings: WatchlistSettings, now: datetime) -> dict[str, datetime]:
    """The time-dependent signals' bounds at `now`: quiet since before, no order since."""
    return {"quiet_before": now - timedelta(days=settings.silence_days), "year_start": _year_start(now)}


async def list_watchlist(session: AsyncSession, filters: WatchlistFilters, page: PageRequest) -> Page[WatchEntryRead]:
    settings = (await load_settings(session)).settings
    now = datetime.now(UTC)
    stmt = repository.watchlist(filters, **signal_clock(settings, now))
    return await page.fetch(
        session,
        stmt,
        order=repository.ORDER,
        binding={"watchlist": True, **filters.model_dump(mode="json")},
        item=lambda entry: to_read(entry, settings, now),
    )


async def get_entry(session: AsyncSession, customer_id: uuid.UUID) -> WatchEntryRead:
    entry = (
        await session.execute(select(WatchEntry).where(WatchEntry.customer_id == customer_id))
    ).scalar_one_or_none()
    if entry is None:
        raise NotFound(f"the churn service has no signals of customer {customer_id}")
    return to_read(entry, (await load_settings(session)).settings, datetime.now(UTC))
