"""The send-time re-check (rules.gate), which the delivery workers call before every send: an opt-out
arriving as an event after the launch stops the next send at once, as do caps reached since the launch,
a customer leaving a dynamic segment, and quiet hours (which defer instead)."""

import uuid
from datetime import UTC, datetime, time, timedelta

import asyncpg
import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from crm_campaign.campaigns.rules import SendPolicy, gate, record_contacts
from crm_campaign.config import Settings
from crm_shared.db import create_engine, create_sessionmaker
from tests.campaign.support import (
    EVERYONE,
    add_audience,
    consent_changed,
    deliver,
    idem,
    new_campaign,
    new_segment,
    preferences_changed,
)

# Quiet hours that never match, unless a test sets its own.
AWAKE = SendPolicy(
    monthly_cap=4, quiet_start=datetime.min.time(), quiet_end=datetime.min.time(), default_time_zone="UTC"
)


async def _launched(api: httpx.AsyncClient, segment: str, **fields) -> uuid.UUID:
    campaign = await new_campaign(api, segment, control_share="0", **fields)
    r = await api.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=idem())
    assert r.status_code == 200, r.text
    return uuid.UUID(campaign["id"])


async def _gate(settings: Settings, campaign_id: uuid.UUID, ids: list[uuid.UUID], policy: SendPolicy = AWAKE, now=None):
    engine = create_engine(settings.async_database_url, application_name="test")
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            assert isinstance(session, AsyncSession)
            return await gate(session, campaign_id, ids, now=now or datetime.now(UTC), policy=policy)
    finally:
        await engine.dispose()


async def _status(db: asyncpg.Connection, campaign_id: uuid.UUID) -> dict[uuid.UUID, tuple[str, str | None]]:
    rows = await db.fetch(
        "SELECT customer_id, status, reason FROM campaign_recipients WHERE campaign_id = $1", campaign_id
    )
    return {r["customer_id"]: (r["status"], r["reason"]) for r in rows}


async def test_an_opt_out_event_blocks_the_next_send(
    api: httpx.AsyncClient, db: asyncpg.Connection, settings: Settings
) -> None:
    stays, leaves = await add_audience(db, [{}, {}])
    campaign_id = await _launched(api, await new_segment(api, EVERYONE))
    assert set((await _status(db, campaign_id)).values()) == {("queued", None)}
    await deliver(api, consent_changed(leaves, "email", "opted_out"))
    assert (
        await db.fetchval("SELECT consent_email FROM audience_customers WHERE customer_id = $1", leaves) == "opted_out"
    )
    assert await _gate(settings, campaign_id, [stays, leaves]) == [stays]
    assert (await _status(db, campaign_id))[leaves] == ("suppressed", "no_consent")
    # a suppressed recipient is not re-checked (nor sent) again
    assert await _gate(settings, campaign_id, [leaves]) == []


async def test_caps_reached_since_the_launch_stop_the_send(
    api: httpx.AsyncClient, db: asyncpg.Connection, settings: Settings
) -> None:
    busy, picky, calm = await add_audience(db, [{}, {}, {}])
    campaign_id = await _launched(api, await new_segment(api, EVERYONE))
    engine = create_engine(settings.async_database_url, application_name="test")
    async with create_sessionmaker(engine)() as session, session.begin():
        for _ in range(4):  # the global monthly cap, reached by other campaigns' messages
            await record_contacts(session, None, [busy], channel="sms", kind="marketing", at=datetime.now(UTC))
        await record_contacts(session, None, [picky], channel="email", kind="marketing", at=datetime.now(UTC))
        await record_contacts(session, None, [calm] * 5, channel="email", kind="transactional", at=datetime.now(UTC))
    await engine.dispose()
    # the customer asks for at most one contact a month
    await deliver(api, preferences_changed(picky, channel=None, max_per_month=1, version=2))
    assert await _gate(settings, campaign_id, [busy, picky, calm]) == [calm]
    status = await _status(db, campaign_id)
    assert status[busy] == ("suppressed", "frequency_cap")
    assert status[picky] == ("suppressed", "customer_frequency_cap")


async def test_a_dynamic_segment_is_re_evaluated_at_send(
    api: httpx.AsyncClient, db: asyncpg.Connection, settings: Settings
) -> None:
    a_class, demoted = await add_audience(db, [{"abc_class": "A"}, {"abc_class": "A"}])
    rules = {"field": "abc_class", "op": "eq", "value": "A"}
    dynamic = await _launched(api, await new_segment(api, rules))
    frozen = await _launched(api, await new_segment(api, rules, mode="frozen"))
    await db.execute("UPDATE audience_customers SET abc_class = 'C' WHERE customer_id = $1", demoted)
    assert await _gate(settings, dynamic, [a_class, demoted]) == [a_class]
    assert (await _status(db, dynamic))[demoted] == ("suppressed", "left_segment")
    assert sorted(await _gate(settings, frozen, [a_class, demoted])) == sorted([a_class, demoted])


async def test_quiet_hours_defer_to_the_end_of_the_window_in_the_customer_zone(
    api: httpx.AsyncClient, db: asyncpg.Connection, settings: Settings
) -> None:
    tokyo, lisbon = await add_audience(db, [{"time_zone": "Asia/Tokyo"}, {"time_zone": None}])
    campaign_id = await _launched(api, await new_segment(api, EVERYONE))
    policy = SendPolicy(monthly_cap=4, quiet_start=time(21), quiet_end=time(8), default_time_zone="Europe/Lisbon")
    # 2026-12-01 13:30 UTC = 22:30 in Tokyo (quiet until 08:00 there = 23:00 UTC) and 13:30 in Lisbon
    at = datetime(2026, 12, 1, 13, 30, tzinfo=UTC)
    assert await _gate(settings, campaign_id, [tokyo, lisbon], policy, now=at) == [lisbon]
    not_before = await db.fetchval(
        "SELECT not_before FROM campaign_recipients WHERE campaign_id = $1 AND customer_id = $2", campaign_id, tokyo
    )
    assert not_before == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    assert (await _status(db, campaign_id))[tokyo] == ("queued", None)
    # after the window: sendable
    assert await _gate(settings, campaign_id, [tokyo], policy, now=at + timedelta(hours=10)) == [tokyo]
