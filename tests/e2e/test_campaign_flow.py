"""End to end: gateway, customer, scoring and campaign services as separate processes. Customers and their
consents created through the gateway reach the campaign service's audience by events; a marketer builds a
segment and launches a campaign; an opt-out through the customer API reaches the campaign service and
stops the next send (the send-time re-check the delivery workers run); an order by a member is attributed
and shows in the results; the bulk sync refills the audience from the other services."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time

import asyncpg
import httpx
import pytest

from crm_campaign.campaigns.rules import SendPolicy, gate
from crm_shared.db import create_engine, create_sessionmaker
from crm_shared.embedded_pg import asyncpg_dsn
from crm_shared.testing import DatabaseFactory, eventually
from tests.customer.helpers import order
from tests.e2e.stack import PARTNER, Stack, build_stack, running, staff

NO_QUIET_HOURS = SendPolicy(monthly_cap=4, quiet_start=time(0), quiet_end=time(0), default_time_zone="UTC")


@pytest.fixture
async def suite(databases: DatabaseFactory) -> AsyncIterator[Stack]:
    stack = await build_stack(
        databases,
        services=("customer", "scoring", "campaign"),
        partners={PARTNER: ("orders:read", "orders:write", "customers:read", "customers:write")},
    )
    with running(stack) as started:
        yield started


def _h(headers: dict[str, str], **extra: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": str(uuid.uuid4()), **extra}


async def test_segment_launch_opt_out_and_attribution_across_services(suite: Stack) -> None:
    admin, marketer = staff("admin"), staff("marketer")
    async with httpx.AsyncClient(base_url=suite.url, timeout=30) as http:
        ids = []
        for i in range(6):
            body = {
                "first_name": f"Ana{i}",
                "email": f"ana{i}@example.com",
                "external_refs": [{"partner": PARTNER, "external_id": f"C-{i}"}],
            }
            r = await http.post("/api/v1/customers", json=body, headers=_h(admin))
            assert r.status_code == 201, r.text
            ids.append(uuid.UUID(r.json()["id"]))
            r = await http.put(
                f"/api/v1/customers/{ids[-1]}/consents/email",
                json={"status": "opted_in", "source": "web form"},
                headers=_h(admin),
            )
            assert r.status_code in (200, 201), r.text
        rules = {"field": "consent_email", "op": "eq", "value": "opted_in"}

        async def audience(expected: int) -> bool | None:
            r = await http.post("/api/v1/segments/preview", json={"rules": rules}, headers=marketer)
            return (r.status_code == 200 and r.json()["count"] == expected) or None

        await eventually(lambda: audience(6), within=30)
        segment = await http.post("/api/v1/segments", json={"name": "Opted in", "rules": rules}, headers=_h(marketer))
        assert segment.status_code == 201, segment.text
        campaign = await http.post(
            "/api/v1/campaigns",
            json={
                "name": "Welcome back",
                "objective": "reactivation",
                "segment_id": segment.json()["id"],
                "channel": "email",
                "subject": "Hi {{ customer.first_name }}",
                "template": "Dear {{ customer.first_name }}, we have news.",
                "control_share": "0",
            },
            headers=_h(marketer),
        )
        assert campaign.status_code == 201, campaign.text
        campaign_id = uuid.UUID(campaign.json()["id"])
        launch = await http.post(f"/api/v1/campaigns/{campaign_id}/launch", headers=_h(marketer))
        assert launch.status_code == 200, launch.text
        assert launch.json()["recipients"] == {"queued": 6, "suppressed": 0}

        # the customer opts out through the customer API: the next send is stopped
        r = await http.put(
            f"/api/v1/customers/{ids[0]}/consents/email",
            json={"status": "opted_out", "source": "unsubscribe link"},
            headers=_h(admin),
        )
        assert r.status_code == 200, r.text
        campaign_db = await asyncpg.connect(asyncpg_dsn(suite.databases["campaign"]))
        try:

            async def opted_out() -> bool | None:
                status = await campaign_db.fetchval(
                    "SELECT consent_email FROM audience_customers WHERE customer_id = $1", ids[0]
                )
                return status == "opted_out" or None

            await eventually(opted_out, within=30)
            engine = create_engine(suite.databases["campaign"], application_name="e2e")
            async with create_sessionmaker(engine)() as session, session.begin():
                sendable = await gate(session, campaign_id, ids, now=datetime.now(UTC), policy=NO_QUIET_HOURS)
            await engine.dispose()
            assert sorted(sendable) == sorted(ids[1:])
            reason = await campaign_db.fetchval(
                "SELECT reason FROM campaign_recipients WHERE campaign_id = $1 AND customer_id = $2",
                campaign_id,
                ids[0],
            )
            assert reason == "no_consent"
        finally:
            await campaign_db.close()

        # an order by a member is attributed to the campaign
        now = datetime.now(UTC).isoformat()
        r = await http.post("/api/v1/orders", json=order("SO-1", "C-1", ordered_at=now), headers=_h(suite.partner()))
        assert r.status_code == 201, r.text

        async def converted() -> dict | None:
            body = (await http.get(f"/api/v1/campaigns/{campaign_id}/results", headers=marketer)).json()
            return body if body["groups"][0]["converters"] == 1 else None

        result = await eventually(converted, within=30)
        assert result["groups"][0]["members"] == 6
        assert result["groups"][0]["revenue"] == "59.90"

        sync = await http.post("/api/v1/campaigns/sync", headers=_h(admin))
        assert sync.status_code == 200, sync.text
        assert sync.json()["customers"] == 6
        assert sync.json()["consents"] == 6
