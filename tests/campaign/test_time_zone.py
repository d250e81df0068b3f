"""Quiet hours follow the customer's own time zone, which the customer service owns: customer events fill
`audience_customers.time_zone` (the bulk sync too: test_audience), and two customers in different zones are
deferred to the end of their own night at the same instant."""

import uuid
from datetime import UTC, datetime, time

import asyncpg
import httpx

from crm_campaign.campaigns.rules import SendPolicy
from crm_campaign.config import Settings
from tests.campaign.support import EVERYONE, consent_changed, customer_event, deliver, new_segment
from tests.campaign.test_send_rules import _gate, _launched

QUIET = SendPolicy(monthly_cap=4, quiet_start=time(21), quiet_end=time(8), default_time_zone="UTC")


async def _zones(db: asyncpg.Connection) -> dict[uuid.UUID, str | None]:
    return {r[0]: r[1] for r in await db.fetch("SELECT customer_id, time_zone FROM audience_customers")}


async def test_tokyo_and_new_york_customers_wake_at_different_instants(
    api: httpx.AsyncClient, db: asyncpg.Connection, settings: Settings
) -> None:
    tokyo, new_york, unknown = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for cid, zone in ((tokyo, "Asia/Tokyo"), (new_york, "America/New_York"), (unknown, None)):
        await deliver(api, customer_event("customer.created", cid, email=f"{cid}@example.com", time_zone=zone))
        await deliver(api, consent_changed(cid, "email", "opted_in"))
    assert await _zones(db) == {tokyo: "Asia/Tokyo", new_york: "America/New_York", unknown: None}
    campaign_id = await _launched(api, await new_segment(api, EVERYONE))
    # 2026-12-01 12:30 UTC: 21:30 in Tokyo (UTC+9) and 07:30 in New York (UTC-5): night in both, ending at
    # 08:00 local = 23:00 UTC in Tokyo, 13:00 UTC in New York; 12:30 in the default zone (UTC): awake.
    at = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
    assert await _gate(settings, campaign_id, [tokyo, new_york, unknown], QUIET, now=at) == [unknown]
    rows = await db.fetch("SELECT customer_id, not_before FROM campaign_recipients WHERE campaign_id = $1", campaign_id)
    not_before = {r["customer_id"]: r["not_before"] for r in rows}
    assert not_before[tokyo] == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    assert not_before[new_york] == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    # A later change of zone moves the customer's night: Tokyo's customer now in Lisbon, 12:30 there.
    moved = customer_event(
        "customer.updated", tokyo, email=f"{tokyo}@example.com", time_zone="Europe/Lisbon", version=2
    )
    await deliver(api, moved)
    assert (await _zones(db))[tokyo] == "Europe/Lisbon"
    assert await _gate(settings, campaign_id, [tokyo], QUIET, now=at) == [tokyo]


async def test_a_zone_this_postgresql_does_not_know_is_kept_as_unknown(
    api: httpx.AsyncClient, db: asyncpg.Connection, settings: Settings
) -> None:
    # e.g. a zone newer than the server's tz files: AT TIME ZONE would fail the whole launch.
    cid = uuid.uuid4()
    await deliver(api, customer_event("customer.created", cid, email="a@example.com", time_zone="Mars/Olympus_Mons"))
    await deliver(api, consent_changed(cid, "email", "opted_in"))
    assert await _zones(db) == {cid: None}
    campaign_id = await _launched(api, await new_segment(api, EVERYONE))
    at = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)  # awake in the default zone (UTC)
    assert await _gate(settings, campaign_id, [cid], QUIET, now=at) == [cid]
