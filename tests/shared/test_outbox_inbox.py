"""The outbox relay delivers over real HTTP to a consumer process; the consumer's inbox applies each
event once, whatever the redeliveries; failures back off, dead-letter, and can be replayed."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from crm_customer.config import Settings
from crm_customer.main import SERVICE_DIR, create_app
from crm_shared import signing
from crm_shared.embedded_pg import asyncpg_dsn
from crm_shared.settings import Subscription
from crm_shared.testing import (
    DatabaseFactory,
    ServerProcess,
    app_client,
    eventually,
    free_port,
    partner_headers,
)
from tests.customer.helpers import idem, order
from tests.support.receiver import CREATE_TABLE

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-event-secret-of-this-module-0123456789"


@pytest.fixture
async def receiver_db_url(databases: DatabaseFactory) -> str:
    return await databases.fresh(SERVICE_DIR)


@pytest.fixture
async def receiver_db(receiver_db_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(receiver_db_url))
    await conn.execute(CREATE_TABLE)
    yield conn
    await conn.close()


@pytest.fixture
def receiver_port() -> int:
    return free_port()


def start_receiver(db_url: str, port: int, *, fail: bool = False) -> ServerProcess:
    env = {
        "RECEIVER_DATABASE_URL": db_url,
        "PYTHONPATH": str(ROOT),
        "RECEIVER_EVENT_SECRET": SECRET,
        "EVENT_SECRET": SECRET,
    }
    if fail:
        env["RECEIVER_FAIL"] = "1"
    proc = ServerProcess("tests.support.receiver:create_app", env, port=port)
    proc.wait_ready()
    return proc


@pytest.fixture
def receiver(receiver_db, receiver_db_url, receiver_port) -> Iterator[ServerProcess]:
    proc = start_receiver(receiver_db_url, receiver_port)
    yield proc
    proc.stop()


def publisher_settings(db_url: str, port: int, **over) -> Settings:
    sub = Subscription(
        name="receiver", url=f"http://127.0.0.1:{port}/internal/events", types=["order.*", "customer.created"]
    )
    return Settings(
        database_url=db_url,
        environment="test",
        log_level="WARNING",
        subscribers=[sub],
        event_secret=SECRET,
        outbox_poll_seconds=0.2,
        outbox_backoff_base=0.05,
        **over,
    )


async def test_orders_reach_the_consumer_once(db_url, db, receiver_db, receiver_port, receiver):
    settings = publisher_settings(db_url, receiver_port)
    async with app_client(create_app(settings), headers=partner_headers("shop-1", "orders:write")) as client:
        rows = [order(f"O-{i}", f"C-{i % 5}") for i in range(50)]
        r = await client.post("/api/v1/orders/batch", json={"orders": rows}, headers=idem())
        assert r.json()["created"] == 50
        await client.post("/api/v1/orders", json=order("O-single"), headers=idem())

        async def all_delivered():
            return await db.fetchval("SELECT count(*) FROM outbox_messages WHERE delivered_at IS NULL") == 0

        await eventually(all_delivered)
    received = await receiver_db.fetch("SELECT type, order_id, subject FROM received_events")
    stored = {str(r["id"]): str(r["customer_id"]) for r in await db.fetch("SELECT id, customer_id FROM orders")}
    orders_received = {r["order_id"]: r["subject"] for r in received if r["type"] == "order.created"}
    assert orders_received == stored
    assert sum(r["type"] == "customer.created" for r in received) == 5
    assert await receiver_db.fetchval("SELECT count(*) FROM inbox_events") == len(received) == 56


async def test_consumer_down_then_up_gets_everything(db_url, db, receiver_db, receiver_db_url, receiver_port):
    settings = publisher_settings(db_url, receiver_port)
    async with app_client(create_app(settings), headers=partner_headers("shop-1", "orders:write")) as client:
        await client.post("/api/v1/orders/batch", json={"orders": [order(f"D-{i}") for i in range(10)]}, headers=idem())

        async def failed_once():
            return await db.fetchval("SELECT attempts FROM outbox_messages WHERE attempts > 0 LIMIT 1")

        await eventually(failed_once)
        assert "receiver" in await db.fetchval("SELECT last_error FROM outbox_messages LIMIT 1")
        proc = start_receiver(receiver_db_url, receiver_port)
        try:

            async def delivered():
                return await db.fetchval("SELECT bool_and(delivered_at IS NOT NULL) FROM outbox_messages")

            await eventually(delivered)
        finally:
            proc.stop()
    assert await receiver_db.fetchval("SELECT count(*) FROM received_events WHERE type = 'order.created'") == 10


async def test_a_subscriber_back_from_an_outage_gets_its_backlog_at_once(
    db_url, db, receiver_db, receiver_db_url, receiver_port
):
    """The relay probes an unreachable subscriber's /readyz; when it answers, every message owed to it is
    due at once instead of at the end of its backoff (here an hour away)."""
    settings = publisher_settings(db_url, receiver_port)
    async with app_client(create_app(settings), headers=partner_headers("shop-1", "orders:write")) as client:
        await client.post("/api/v1/orders/batch", json={"orders": [order(f"B-{i}") for i in range(5)]}, headers=idem())
        await client.post("/api/v1/orders", json=order("B-single"), headers=idem())

        async def all_failed():
            return await db.fetchval("SELECT bool_and(attempts > 0) FROM outbox_messages")

        await eventually(all_failed)
        await db.execute("UPDATE outbox_messages SET next_attempt_at = now() + interval '1 hour'")
        proc = start_receiver(receiver_db_url, receiver_port)
        try:

            async def delivered():
                return await db.fetchval("SELECT bool_and(delivered_at IS NOT NULL) FROM outbox_messages")

            await eventually(delivered, within=10)
        finally:
            proc.stop()
    assert await receiver_db.fetchval("SELECT count(*) FROM received_events WHERE type = 'order.created'") == 6


async def test_redelivery_is_applied_once(db_url, db, receiver_db, receiver_port, receiver):
    settings = publisher_settings(db_url, receiver_port)
    async with app_client(create_app(settings), headers=partner_headers("shop-1", "orders:write")) as client:
        await client.post("/api/v1/orders/batch", json={"orders": [order(f"R-{i}") for i in range(20)]}, headers=idem())

        async def delivered():
            return await db.fetchval("SELECT bool_and(delivered_at IS NOT NULL) FROM outbox_messages")

        await eventually(delivered)
        # As if the publisher crashed after the consumer applied the events but before it recorded
        # the delivery: the same message goes out again.
        await db.execute("UPDATE outbox_messages SET delivered_at = NULL, pending = '{receiver}'")
        client._transport.app.state.relay_wakeup()  # type: ignore[attr-defined]
        await eventually(delivered)
    assert await receiver_db.fetchval("SELECT count(*) FROM received_events WHERE type = 'order.created'") == 20
    assert await receiver_db.fetchval("SELECT count(DISTINCT event_id) FROM received_events") == 21


async def test_failing_consumer_dead_letters_then_replays(db_url, db, receiver_db, receiver_db_url, receiver_port):
    settings = publisher_settings(db_url, receiver_port, outbox_max_attempts=2)
    failing = start_receiver(receiver_db_url, receiver_port, fail=True)
    try:
        async with app_client(create_app(settings), headers=partner_headers("shop-1", "orders:write")) as client:
            await client.post("/api/v1/orders", json=order("DL-1"), headers=idem())

            async def dead():
                return await db.fetchval("SELECT dead FROM outbox_messages WHERE dead")

            await eventually(dead)
            assert "answered 503" in await db.fetchval("SELECT last_error FROM outbox_messages")
    finally:
        failing.stop()
    assert await receiver_db.fetchval("SELECT count(*) FROM received_events") == 0
    healthy = start_receiver(receiver_db_url, receiver_port)
    try:
        async with app_client(create_app(settings)) as client:
            from crm_shared.outbox import replay_dead

            sessionmaker = client._transport.app.state.sessionmaker  # type: ignore[attr-defined]
            async with sessionmaker() as session, session.begin():
                assert await replay_dead(session) == 1
            client._transport.app.state.relay_wakeup()  # type: ignore[attr-defined]

            async def delivered():
                return await db.fetchval("SELECT delivered_at IS NOT NULL FROM outbox_messages")

            await eventually(delivered)
    finally:
        healthy.stop()
    assert await receiver_db.fetchval("SELECT count(*) FROM received_events WHERE type = 'order.created'") == 1


async def test_unsigned_or_forged_events_are_refused(receiver_db, receiver):
    body = (
        b'[{"id": "8b6f7c4e-1d8a-4c1e-9a7e-2b4a3f5d6c7b", "type": "order.created", "source": "x", '
        b'"time": "2026-01-01T00:00:00Z", "data": {"order_id": "1"}}]'
    )
    url = receiver.url + "/internal/events"
    async with httpx.AsyncClient() as http:
        unsigned = await http.post(url, content=body)
        forged = await http.post(url, content=body, headers=signing.signature_headers("wrong-secret", "m1", body))
        stale = signing.signature_headers(SECRET, "m1", body)
        stale["webhook-timestamp"] = str(int(time.time()) - 3600)
        old = await http.post(url, content=body, headers=stale)
        garbage = await http.post(url, content=b"[1]", headers=signing.signature_headers(SECRET, "m2", b"[1]"))
        good = await http.post(url, content=body, headers=signing.signature_headers(SECRET, "m3", body))
    assert [unsigned.status_code, forged.status_code, old.status_code] == [401, 401, 401]
    assert garbage.status_code == 400
    assert good.status_code == 200
    assert good.json() == {"received": 1, "applied": 1}
    assert await receiver_db.fetchval("SELECT count(*) FROM received_events") == 1


def test_environment_is_clean():
    assert "RECEIVER_FAIL" not in os.environ
