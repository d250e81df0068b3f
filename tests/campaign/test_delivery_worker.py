"""The delivery worker on real PostgreSQL against real local servers: emails arrive at an aiosmtpd server
with one-click unsubscribe headers, SMS at an HTTP receiver; a refusing server is retried, then given up;
an opt-out between launch and send suppresses the message; the unsubscribe link records the opt-out in the
real customer service (its own process) and here at once.

Recipients are queued the way a launch leaves them (rows in campaign_recipients); the worker is driven one
pass at a time (`run_once`) so each step can be checked."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_campaign.config import Settings
from crm_campaign.delivery.consent_forwards import forward
from crm_campaign.delivery.links import LinkSigner
from crm_campaign.delivery.runtime import link_signer
from crm_campaign.delivery.worker import DeliveryWorker
from crm_campaign.main import create_app
from crm_customer.main import SERVICE_DIR as CUSTOMER_DIR
from crm_shared.clients.customer import CustomerConsents
from crm_shared.db import create_engine, create_sessionmaker
from crm_shared.settings import Subscription
from crm_shared.testing import DatabaseFactory, ServerProcess, app_client, free_port, user_headers
from tests.campaign.test_delivery_channels import LocalSmtp, SmsReceiver, sms_receiver, smtp_server

__all__ = ["sms_receiver", "smtp_server"]  # fixtures used here
LINK_SECRET = "test-link-secret-" + uuid.uuid4().hex
STAFF = user_headers("staff-1", "customers:read", "customers:write", "pii:read", service="customer")
# The header's one value (a long URL is folded onto its own line: whitespace around it is allowed).
UNSUBSCRIBE = re.compile(r"\s*<(https?://[^>\s]+/public/campaigns/unsubscribe/[^>\s]+)>\s*")


# -- real servers (the local SMTP server and SMS receiver fixtures come from test_delivery_channels) ------
@pytest.fixture(scope="module")
async def customer_service(databases: DatabaseFactory) -> AsyncIterator[ServerProcess]:
    """The customer service as its own process on its own database (the suite's test secrets)."""
    url = await databases.fresh(CUSTOMER_DIR)
    with ServerProcess("crm_customer.main:create_app", {"CUSTOMER_DATABASE_URL": url}) as server:
        server.wait_ready()
        yield server


async def new_customer(server: ServerProcess, first_name: str) -> uuid.UUID:
    async with httpx.AsyncClient(base_url=server.url, headers=STAFF) as http:
        r = await http.post(
            "/api/v1/customers", json={"first_name": first_name}, headers={"Idempotency-Key": uuid.uuid4().hex}
        )
        assert r.status_code == 201, r.text
        customer_id = uuid.UUID(r.json()["id"])
        r = await http.put(
            f"/api/v1/customers/{customer_id}/consents/email",
            json={"status": "opted_in", "source": "web form"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 200, r.text
    return customer_id


async def consents_there(server: ServerProcess, customer_id: uuid.UUID) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, headers=STAFF) as http:
        r = await http.get(f"/api/v1/customers/{customer_id}/consents")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


# -- settings and worker ------------------------------------------------------------------------------------
def delivery_settings(settings: Settings, **changes: Any) -> Settings:
    """The test database's settings with local servers, no quiet hours (start = end), immediate retries."""
    base = {
        "link_secrets": [LINK_SECRET],
        "public_base_url": "http://crm.test",
        "delivery_worker_enabled": False,  # driven pass by pass
        "delivery_backoff_base_seconds": 0.0,
        "delivery_max_attempts": 3,
        "quiet_hours_start": time(0),
        "quiet_hours_end": time(0),
        "email_from": "Shop <news@shop.example>",
        # Events are written to the outbox for this subscriber; no relay runs (outbox_enabled false).
        "subscribers": [Subscription(name="watcher", url="http://127.0.0.1:9/events", types=["delivery.*"])],
        "outbox_enabled": False,
    }
    return Settings.model_validate({**settings.model_dump(), **base, **changes})


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[Any]]:
    engine = create_engine(settings.async_database_url, application_name="test-delivery")
    yield create_sessionmaker(engine, subscriptions=delivery_settings(settings).subscribers)
    await engine.dispose()


def worker_for(sessions: async_sessionmaker[Any], settings: Settings, **kwargs: Any) -> DeliveryWorker:
    signer = link_signer(settings)
    assert signer is not None
    return DeliveryWorker(sessions, settings, signer, **kwargs)


# -- data as a launch leaves it -----------------------------------------------------------------------------
async def audience(
    db: asyncpg.Connection, *, first_name: str, customer_id: uuid.UUID | None = None, **cols: Any
) -> uuid.UUID:
    customer_id = customer_id or uuid.uuid4()
    values = {
        "first_name": first_name,
        "email": f"{first_name.lower()}@example.com",
        "consent_email": "opted_in",
        **cols,
    }
    names = ", ".join(values)
    marks = ", ".join(f"${i + 2}" for i in range(len(values)))
    await db.execute(
        f"INSERT INTO audience_customers (customer_id, {names}) VALUES ($1, {marks})", customer_id, *values.values()
    )
    return customer_id


async def queued_campaign(
    db: asyncpg.Connection,
    customers: list[uuid.UUID],
    *,
    channel: str = "email",
    kind: str = "marketing",
    template: str = "Hello {{ customer.first_name }}, here is 10% off.",
    subject: str | None = "{{ customer.first_name }}, we miss you",
) -> uuid.UUID:
    segment = await db.fetchval(
        "INSERT INTO segments (name, rules, mode) VALUES ($1, '{}'::jsonb, 'frozen') RETURNING id", uuid.uuid4().hex
    )
    campaign = await db.fetchval(
        "INSERT INTO campaigns (name, objective, kind, segment_id, channel, subject, template, seed, status,"
        " launched_at) VALUES ('Win back', 'win_back', $1, $2, $3, $4, $5, 7, 'launched', now()) RETURNING id",
        kind,
        segment,
        channel,
        subject,
        template,
    )
    for customer in customers:
        await db.execute(
            "INSERT INTO campaign_members (campaign_id, customer_id, grp) VALUES ($1, $2, 'treatment')",
            campaign,
            customer,
        )
        await db.execute(
            "INSERT INTO campaign_recipients (campaign_id, customer_id, channel, status, not_before)"
            " VALUES ($1, $2, $3, 'queued', now() - interval '1 minute')",
            campaign,
            customer,
            channel,
        )
    return campaign


async def recipients(db: asyncpg.Connection, campaign: uuid.UUID) -> dict[uuid.UUID, asyncpg.Record]:
    rows = await db.fetch("SELECT * FROM campaign_recipients WHERE campaign_id = $1", campaign)
    return {r["customer_id"]: r for r in rows}


async def events(db: asyncpg.Connection, type_: str) -> list[dict[str, Any]]:
    found = []
    for row in await db.fetch("SELECT events FROM outbox_messages ORDER BY id"):
        found += [e for e in json.loads(row["events"]) if e["type"] == type_]
    return found


# -- tests --------------------------------------------------------------------------------------------------
async def test_emails_arrive_with_one_click_unsubscribe_and_are_recorded(
    settings: Settings, sessions: async_sessionmaker[Any], db: asyncpg.Connection, smtp_server: LocalSmtp
) -> None:
    config = delivery_settings(settings, smtp_port=smtp_server.port)
    ada, bob = await audience(db, first_name="Ada"), await audience(db, first_name="Bob")
    campaign = await queued_campaign(db, [ada, bob])

    result = await worker_for(sessions, config).run_once()

    assert (result.sent, result.failed, result.retried) == (2, 0, 0)
    by_to = {m["To"]: m for m in smtp_server.received}
    assert set(by_to) == {"ada@example.com", "bob@example.com"}
    mail = by_to["ada@example.com"]
    assert mail["Subject"] == "Ada, we miss you"
    assert mail["From"] == "Shop <news@shop.example>"
    assert "Hello Ada, here is 10% off." in mail.get_content()
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = UNSUBSCRIBE.fullmatch(mail["List-Unsubscribe"])
    assert link is not None
    claims = LinkSigner([LINK_SECRET], ttl_seconds=60).verify("unsubscribe", link.group(1).rsplit("/", 1)[1])
    assert (claims.customer, claims.channel, claims.campaign) == (ada, "email", campaign)

    rows = await recipients(db, campaign)
    assert {r["status"] for r in rows.values()} == {"sent"}
    assert all(r["sent_at"] is not None and r["attempts"] == 1 and r["provider_ref"] for r in rows.values())
    logged = await db.fetch("SELECT customer_id, channel, kind FROM contact_log WHERE campaign_id = $1", campaign)
    assert sorted((r["customer_id"], r["channel"], r["kind"]) for r in logged) == sorted(
        [(ada, "email", "marketing"), (bob, "email", "marketing")]
    )
    sent = await events(db, "delivery.sent")
    assert {e["subject"] for e in sent} == {str(ada), str(bob)}
    assert {e["data"]["campaign_id"] for e in sent} == {str(campaign)}
    # Nothing is left to send: a second pass sends nothing again.
    assert (await worker_for(sessions, config).run_once()).claimed == 0
    assert len(smtp_server.received) == 2


async def test_an_sms_arrives_at_the_provider(
    settings: Settings, sessions: async_sessionmaker[Any], db: asyncpg.Connection, sms_receiver: SmsReceiver
) -> None:
    config = delivery_settings(settings, sms_provider_url=sms_receiver.url)
    ada = await audience(db, first_name="Ada", phone="+4915112345678", consent_sms="opted_in")
    campaign = await queued_campaign(db, [ada], channel="sms", subject=None)

    result = await worker_for(sessions, config).run_once()

    assert result.sent == 1
    (got,) = sms_receiver.received
    assert got["body"]["to"] == "+4915112345678"
    assert got["body"]["text"].startswith(
        "Hello Ada, here is 10% off.\nOpt out: http://crm.test/public/campaigns/unsubscribe/"
    )
    token = got["body"]["text"].rsplit("/", 1)[1]
    assert LinkSigner([LINK_SECRET], ttl_seconds=60).verify("unsubscribe", token).channel == "sms"
    row = (await recipients(db, campaign))[ada]
    assert (row["status"], row["provider_ref"]) == ("sent", "sms-1")


async def test_a_refusing_server_is_retried_then_given_up(
    settings: Settings, sessions: async_sessionmaker[Any], db: asyncpg.Connection, smtp_server: LocalSmtp
) -> None:
    config = delivery_settings(settings, smtp_port=smtp_server.port, delivery_max_attempts=3)
    ada = await audience(db, first_name="Ada")
    campaign = await queued_campaign(db, [ada])
    worker = worker_for(sessions, config)

    smtp_server.refuse_next = 1  # 451: try again later
    first = await worker.run_once()
    assert (first.sent, first.retried) == (0, 1)
    row = (await recipients(db, campaign))[ada]
    assert (row["status"], row["attempts"]) == ("queued", 1)
    assert "451" in row["last_error"]
    second = await worker.run_once()  # the server takes it now
    assert second.sent == 1
    assert len(smtp_server.received) == 1
    assert (await recipients(db, campaign))[ada]["attempts"] == 2

    # Refused every time: after the last attempt the recipient is failed, with delivery.failed.
    bob = await audience(db, first_name="Bob")
    other = await queued_campaign(db, [bob])
    smtp_server.refuse_next = 10
    outcomes = [await worker.run_once() for _ in range(3)]
    assert [(o.retried, o.failed) for o in outcomes] == [(1, 0), (1, 0), (0, 1)]
    row = (await recipients(db, other))[bob]
    assert (row["status"], row["reason"], row["attempts"]) == ("failed", "retries_exhausted", 3)
    (failed,) = await events(db, "delivery.failed")
    assert failed["data"]["customer_id"] == str(bob)
    assert failed["data"]["attempts"] == 3
    assert failed["data"]["final"] is True


async def test_a_permanent_refusal_fails_at_once(
    settings: Settings, sessions: async_sessionmaker[Any], db: asyncpg.Connection, smtp_server: LocalSmtp
) -> None:
    config = delivery_settings(settings, smtp_port=smtp_server.port)
    ada = await audience(db, first_name="Ada")
    campaign = await queued_campaign(db, [ada])
    smtp_server.refuse_next, smtp_server.refusal = 1, "550 5.1.1 no such mailbox"

    result = await worker_for(sessions, config).run_once()

    assert result.failed == 1
    row = (await recipients(db, campaign))[ada]
    assert (row["status"], row["reason"], row["attempts"]) == ("failed", "refused", 1)
    assert "550" in row["last_error"]


async def test_an_unreachable_server_keeps_the_message_queued(
    settings: Settings, sessions: async_sessionmaker[Any], db: asyncpg.Connection
) -> None:
    config = delivery_settings(settings, smtp_port=free_port(), delivery_backoff_base_seconds=60.0)
    ada = await audience(db, first_name="Ada")
    campaign = await queued_campaign(db, [ada])

    result = await worker_for(sessions, config).run_once()

    assert result.retried == 1
    row = (await recipients(db, campaign))[ada]
    assert row["status"] == "queued"
    assert row["not_before"] > datetime.now(UTC) + timedelta(seconds=50)  # backed off: not due again yet
    assert (await worker_for(sessions, config).run_once()).claimed == 0


async def test_an_opt_out_between_launch_and_send_suppresses(
    settings: Settings, sessions: async_sessionmaker[Any], db: asyncpg.Connection, smtp_server: LocalSmtp
) -> None:
    config = delivery_settings(settings, smtp_port=smtp_server.port)
    ada, bob = await audience(db, first_name="Ada"), await audience(db, first_name="Bob")
    campaign = await queued_campaign(db, [ada, bob])
    # What the consent.changed handler does with an opt-out in the customer service.
    await db.execute("UPDATE audience_customers SET consent_email = 'opted_out' WHERE customer_id = $1", ada)

    result = await worker_for(sessions, config).run_once()

    assert result.sent == 1
    assert [m["To"] for m in smtp_server.received] == ["bob@example.com"]
    row = (await recipients(db, campaign))[ada]
    assert (row["status"], row["reason"]) == ("suppressed", "no_consent")
    assert await db.fetchval("SELECT count(*) FROM contact_log WHERE customer_id = $1", ada) == 0


async def test_the_unsubscribe_link_records_the_opt_out_there_and_here(
    settings: Settings,
    sessions: async_sessionmaker[Any],
    db: asyncpg.Connection,
    smtp_server: LocalSmtp,
    customer_service: ServerProcess,
) -> None:
    config = delivery_settings(settings, smtp_port=smtp_server.port, customer_service_url=customer_service.url)
    ada = await audience(db, first_name="Ada", customer_id=await new_customer(customer_service, "Ada"))
    await queued_campaign(db, [ada])
    await worker_for(sessions, config).run_once()
    (mail,) = smtp_server.received
    link = UNSUBSCRIBE.fullmatch(mail["List-Unsubscribe"])
    assert link is not None
    path = link.group(1).removeprefix("http://crm.test")

    async with app_client(create_app(config)) as public:
        shown = await public.get(path)  # a GET (a link scanner) changes nothing
        assert shown.status_code == 200
        assert "Unsubscribe" in shown.text
        assert (
            await db.fetchval("SELECT consent_email FROM audience_customers WHERE customer_id = $1", ada) == "opted_in"
        )
        # What a mail client sends for List-Unsubscribe-Post (RFC 8058).
        r = await public.post(
            path, content=b"List-Unsubscribe=One-Click", headers={"content-type": "application/x-www-form-urlencoded"}
        )
        assert r.status_code == 200, r.text
        assert "no more marketing emails" in r.text
        again = await public.post(path, content=b"List-Unsubscribe=One-Click")  # a repeat is harmless
        assert again.status_code == 200
        forged = await public.post(path[:-3] + "abc", content=b"List-Unsubscribe=One-Click")
        assert forged.status_code == 400

    there = await consents_there(customer_service, ada)
    email = next(c for c in there["consents"] if c["channel"] == "email")
    assert (email["status"], email["source"]) == ("opted_out", "unsubscribe link")
    assert await db.fetchval("SELECT consent_email FROM audience_customers WHERE customer_id = $1", ada) == "opted_out"
    assert await db.fetchval("SELECT count(*) FROM consent_forwards WHERE forwarded_at IS NULL") == 0

    # The next campaign to Ada is suppressed at send.
    nxt = await queued_campaign(db, [ada])
    result = await worker_for(sessions, config).run_once()
    assert result.sent == 0
    assert (await recipients(db, nxt))[ada]["reason"] == "no_consent"
    assert len(smtp_server.received) == 1


async def test_an_unsubscribe_while_the_customer_service_is_down_is_forwarded_later(
    settings: Settings, sessions: async_sessionmaker[Any], db: asyncpg.Connection, customer_service: ServerProcess
) -> None:
    down = delivery_settings(settings, customer_service_url=f"http://127.0.0.1:{free_port()}")
    ada = await audience(db, first_name="Ada", customer_id=await new_customer(customer_service, "Ada"))
    signer = link_signer(down)
    assert signer is not None
    token = signer.sign("unsubscribe", customer=ada, channel="email")

    async with app_client(create_app(down)) as public:
        r = await public.post(f"/public/campaigns/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click")
    assert r.status_code == 200  # effective here at once
    assert await db.fetchval("SELECT consent_email FROM audience_customers WHERE customer_id = $1", ada) == "opted_out"
    pending = await db.fetchrow("SELECT * FROM consent_forwards")
    assert pending["forwarded_at"] is None
    assert pending["attempts"] == 1
    assert pending["last_error"]

    # The customer service is back: the worker's next pass records it there.
    async with CustomerConsents(customer_service.url, keys=settings.principal_key_values) as consents:
        later = datetime.now(UTC) + timedelta(minutes=1)
        assert await forward(sessions, consents, now=later) == 1
    there = await consents_there(customer_service, ada)
    assert next(c for c in there["consents"] if c["channel"] == "email")["status"] == "opted_out"
    assert await db.fetchval("SELECT forwarded_at IS NOT NULL FROM consent_forwards") is True


async def test_link_secrets_are_required(settings: Settings) -> None:
    """Missing or short, in every environment: the service does not start, and says which setting."""
    unset = {**settings.model_dump(), "link_secrets": []}
    for values in ({**unset, "environment": "production"}, unset, {**unset, "link_secrets": ["too-short"]}):
        with pytest.raises(ValueError, match="CAMPAIGN_LINK_SECRETS"):
            async with app_client(create_app(Settings.model_validate(values))):
                pass
