"""The result's kept counts (campaign_tallies, statement triggers of migration 0006) against counting the rows
directly, on varied data: several launches (email with a control, phone, a stratified split, a global
holdout), call batches, a cancellation, and plain statements of every kind (insert, update of the status and
of other columns only, delete) on members and recipients; then the result endpoint reads them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from crm_campaign.config import Settings
from crm_campaign.main import create_app
from crm_campaign.results import repository
from crm_shared.db import create_engine, create_sessionmaker
from crm_shared.testing import app_client
from tests.campaign.conftest import ADMIN
from tests.campaign.support import EVERYONE, add_audience, idem, new_campaign, new_segment
from tests.campaign.test_delivery_worker import delivery_settings

DIRECT = """
SELECT 'group' AS kind, grp AS value, count(*) AS n FROM campaign_members WHERE campaign_id = $1 GROUP BY grp
UNION ALL
SELECT 'status', status, count(*) FROM campaign_recipients WHERE campaign_id = $1 GROUP BY status
"""


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app as an admin without quiet hours (batches can be made at any time of day), no worker."""
    async with app_client(create_app(delivery_settings(settings)), headers=ADMIN) as client:
        yield client


async def direct(db: asyncpg.Connection, campaign_id: uuid.UUID) -> dict[tuple[str, str], int]:
    return {(r["kind"], r["value"]): r["n"] for r in await db.fetch(DIRECT, campaign_id)}


async def kept(db_url: str, campaign_id: uuid.UUID) -> dict[tuple[str, str], int]:
    """The tallies as the result reads them (zero counts left out, as counting rows has none)."""
    engine = create_engine(db_url, application_name="test-tallies")
    try:
        async with create_sessionmaker(engine)() as session:
            return {k: n for k, n in (await repository.tallies(session, campaign_id)).items() if n}
    finally:
        await engine.dispose()


async def launch(api: httpx.AsyncClient, segment: str, **fields: str | bool) -> uuid.UUID:
    campaign = await new_campaign(api, segment, **fields)
    r = await api.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=idem())
    assert r.status_code == 200, r.text
    return uuid.UUID(campaign["id"])


async def test_tallies_match_counting_the_rows(api: httpx.AsyncClient, db: asyncpg.Connection, db_url: str) -> None:
    regions = ["north", "south", "east"]
    await add_audience(
        db,
        [
            {
                "region": regions[i % 3],
                "abc_class": "ABC"[i % 3],
                "consent_email": "opted_out" if i % 7 == 0 else "opted_in",
                "consent_phone": None if i % 5 == 0 else "opted_in",
                "email": None if i % 11 == 0 else f"c{i}@example.com",
            }
            for i in range(300)
        ],
    )
    everyone = await new_segment(api, EVERYONE)
    north = await new_segment(api, {"field": "region", "op": "eq", "value": "north"})
    email = await launch(api, everyone, control_share="0.3")
    r = await api.post(
        "/api/v1/campaigns/holdouts",
        json={
            "name": "programme",
            "share": "0.1",
            "starts_at": "2020-01-01T00:00:00Z",
            "ends_at": "2099-01-01T00:00:00Z",
        },
        headers=idem(),
    )
    assert r.status_code == 201, r.text
    phone = await launch(api, everyone, channel="phone", subject=None, stratify_by_abc=True)
    cancelled = await launch(api, north, control_share="0.5")
    campaigns = [email, phone, cancelled]

    # Call batches hand recipients over (queued -> sent); a cancellation suppresses the queued.
    # (due now: an update that moves no count)
    await db.execute(
        "UPDATE campaign_recipients SET not_before = now() - interval '1 minute' WHERE campaign_id = $1", phone
    )
    for limit in (40, 1000):
        r = await api.post(f"/api/v1/campaigns/{phone}/batches", json={"limit": limit}, headers=idem())
        assert r.status_code == 201, r.text
    r = await api.post(f"/api/v1/campaigns/{cancelled}/cancel", headers=idem())
    assert r.status_code == 200, r.text
    # Statements of every kind, as the delivery worker and the send-time rules write them.
    await db.execute(
        "UPDATE campaign_recipients SET status = CASE WHEN attempts = 0 THEN 'sent' ELSE 'failed' END, attempts = 1"
        " WHERE campaign_id = $1 AND status = 'queued' AND customer_id < '80000000-0000-0000-0000-000000000000'",
        email,
    )
    await db.execute("UPDATE campaign_recipients SET attempts = attempts + 1 WHERE campaign_id = $1", email)
    await db.execute(
        "UPDATE campaign_recipients SET status = 'suppressed', reason = 'test' WHERE campaign_id = ANY($1)"
        " AND status = 'queued' AND customer_id > 'c0000000-0000-0000-0000-000000000000'",
        [email, phone],
    )
    await db.execute(
        "DELETE FROM campaign_recipients WHERE campaign_id = $1"
        " AND customer_id < '20000000-0000-0000-0000-000000000000'",
        email,
    )
    await db.execute(
        "UPDATE campaign_members SET grp = 'control' WHERE campaign_id = $1 AND grp = 'treatment'"
        " AND customer_id < '30000000-0000-0000-0000-000000000000'",
        phone,
    )

    for campaign in campaigns:
        counted = await direct(db, campaign)
        assert sum(n for (kind, _), n in counted.items() if kind == "group") > 20
        assert await kept(db_url, campaign) == counted
    assert {v for c in campaigns for (k, v) in await direct(db, c) if k == "status"} >= {"sent", "suppressed"}

    # The result reads them: members per group and the contacts sent.
    counted = await direct(db, email)
    body = (await api.get(f"/api/v1/campaigns/{email}/results")).json()
    assert {g["group"]: g["members"] for g in body["groups"]} == {
        g: counted.get(("group", g), 0) for g in ("treatment", "control", "global_control")
    }
    assert body["contacts"] == counted[("status", "sent")]
