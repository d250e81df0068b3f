"""From launch to inbox through the service's own API: a launched email campaign is delivered by the worker
running in the app's lifespan to a real local SMTP server, and an opt-out arriving as a `consent.changed`
event between launch and send suppresses that customer's message."""

from __future__ import annotations

import uuid

import asyncpg

from crm_campaign.config import Settings
from crm_campaign.main import create_app
from crm_shared.db import create_engine, create_sessionmaker
from crm_shared.testing import app_client, eventually
from tests.campaign.conftest import ADMIN
from tests.campaign.support import EVERYONE, add_audience, consent_changed, deliver, idem, new_campaign, new_segment
from tests.campaign.test_delivery_channels import LocalSmtp, smtp_server
from tests.campaign.test_delivery_worker import delivery_settings, recipients, worker_for

__all__ = ["smtp_server"]  # the local SMTP server fixture


async def test_a_launched_campaign_is_delivered_by_the_lifespan_worker(
    settings: Settings, db: asyncpg.Connection, smtp_server: LocalSmtp
) -> None:
    config = delivery_settings(
        settings, smtp_port=smtp_server.port, delivery_worker_enabled=True, delivery_poll_seconds=0.1
    )
    people = [{"first_name": name, "email": f"{name.lower()}@example.com"} for name in ("Ada", "Bob", "Cy")]
    ids = await add_audience(db, people)
    async with app_client(create_app(config), headers=ADMIN) as api:
        campaign = await new_campaign(api, await new_segment(api, EVERYONE), control_share="0")
        launched = await api.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=idem())
        assert launched.status_code == 200, launched.text

        await eventually(lambda: _arrived(smtp_server, 3), within=20)
    # Stopping the app let the worker's pass record what it sent.

    assert sorted(m["To"] for m in smtp_server.received) == ["ada@example.com", "bob@example.com", "cy@example.com"]
    ada = next(m for m in smtp_server.received if m["To"] == "ada@example.com")
    assert ada["Subject"] == "Hello Ada"
    assert ada.get_content().replace("\r\n", "\n").startswith("Dear Ada,\nwe miss you.")  # SMTP lines end in CRLF
    assert ada["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    rows = await recipients(db, uuid.UUID(campaign["id"]))
    assert {rows[i]["status"] for i in ids} == {"sent"}


async def test_an_opt_out_event_after_launch_suppresses_the_send(
    settings: Settings, db: asyncpg.Connection, smtp_server: LocalSmtp
) -> None:
    config = delivery_settings(settings, smtp_port=smtp_server.port)  # the worker is driven by hand here
    ada, bob = await add_audience(
        db, [{"first_name": "Ada", "email": "ada@example.com"}, {"first_name": "Bob", "email": "bob@example.com"}]
    )
    async with app_client(create_app(config), headers=ADMIN) as api:
        campaign = await new_campaign(api, await new_segment(api, EVERYONE), control_share="0")
        assert (await api.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=idem())).status_code == 200
        await deliver(api, consent_changed(ada, "email", "opted_out"))  # from the customer service

    engine = create_engine(config.async_database_url, application_name="test-delivery")
    try:
        result = await worker_for(create_sessionmaker(engine), config).run_once()
    finally:
        await engine.dispose()

    assert result.sent == 1
    assert [m["To"] for m in smtp_server.received] == ["bob@example.com"]
    rows = await recipients(db, uuid.UUID(campaign["id"]))
    assert (rows[ada]["status"], rows[ada]["reason"]) == ("suppressed", "no_consent")
    assert rows[bob]["status"] == "sent"


async def _arrived(server: LocalSmtp, n: int) -> bool:
    return len(server.received) >= n
