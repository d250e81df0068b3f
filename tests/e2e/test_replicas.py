"""Two replicas of the customer service on one database, each running its outbox relay, take a few hundred
orders at once; a subscriber counting every delivery it receives (before any de-duplication) gets each event
exactly once. The relays claim messages with FOR UPDATE SKIP LOCKED (crm_shared/outbox.py): both deliver a
share, neither delivers what the other holds."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import httpx
import msgspec
import pytest
from aiohttp import web

from crm_customer.main import SERVICE_DIR as CUSTOMER_DIR
from crm_shared.embedded_pg import asyncpg_dsn
from crm_shared.testing import DatabaseFactory, ServerProcess, eventually, partner_headers
from tests.deploy.http_sink import sink

ORDERS = 300
CUSTOMERS = 120  # orders name these customers in turn: each customer.created once, then returning buyers
CONCURRENCY = 16  # requests in flight, spread over both replicas
HEADERS = partner_headers("shop-1", "orders:write", "orders:read", "customers:write", "customers:read")


@dataclass
class CountingSubscriber:
    """Counts each event id it is sent, per delivering replica (told apart by the URL each was given)."""

    url: str = ""
    received: Counter[str] = field(default_factory=Counter)
    by_replica: Counter[str] = field(default_factory=Counter)
    posts: int = 0


@pytest.fixture
async def subscriber() -> AsyncIterator[CountingSubscriber]:
    seen = CountingSubscriber()

    async def deliver(request: web.Request) -> web.Response:
        events = msgspec.json.decode(await request.read())
        seen.posts += 1
        for event in events:
            seen.received[event["id"]] += 1
            seen.by_replica[request.query["via"]] += 1
        await asyncio.sleep(0.01)  # a delivery takes a moment: the relays' passes overlap
        return web.Response(status=204)

    async with sink("/internal/events", deliver) as url:
        seen.url = url
        yield seen


def replica(db_url: str, subscriber_url: str, name: str) -> ServerProcess:
    subscribers = [{"name": "counter", "url": f"{subscriber_url}?via={name}", "types": ["*"]}]
    return ServerProcess(
        "crm_customer.main:create_app",
        {
            "CUSTOMER_DATABASE_URL": db_url,
            "CUSTOMER_SUBSCRIBERS": json.dumps(subscribers),
            "CUSTOMER_OUTBOX_POLL_SECONDS": "0.2",
            "CUSTOMER_OUTBOX_BACKOFF_BASE": "0.05",
            "CUSTOMER_LOG_LEVEL": "WARNING",
        },
    )


def order(i: int) -> dict[str, object]:
    return {
        "external_id": f"SO-{i}",
        "customer": {"external_id": f"C-{i % CUSTOMERS}", "first_name": "Ana"},
        "ordered_at": "2026-11-20T10:15:00Z",
        "currency": "EUR",
        "amount": f"{10 + i % 50}.90",
    }


async def test_two_replicas_deliver_each_event_exactly_once(
    databases: DatabaseFactory, subscriber: CountingSubscriber
) -> None:
    db_url = await databases.fresh(CUSTOMER_DIR)
    replicas = [replica(db_url, subscriber.url, name) for name in ("a", "b")]
    try:
        for process in replicas:
            await asyncio.to_thread(process.wait_ready, timeout=90)  # a busy 2-core machine starts them slowly
        async with httpx.AsyncClient(headers=HEADERS, timeout=30) as http:
            gate = asyncio.Semaphore(CONCURRENCY)

            async def push(i: int) -> int:
                async with gate:
                    target = replicas[i % 2].url  # every other order through each replica
                    response = await http.post(
                        f"{target}/api/v1/orders", json=order(i), headers={"Idempotency-Key": f"replicas-{i}"}
                    )
                    return response.status_code

            statuses = await asyncio.gather(*(push(i) for i in range(ORDERS)))
        assert Counter(statuses) == {201: ORDERS}

        conn = await asyncpg.connect(asyncpg_dsn(db_url))
        try:
            published = [
                event["id"]
                for row in await conn.fetch("SELECT events FROM outbox_messages")
                for event in msgspec.json.decode(row["events"])
            ]

            async def all_delivered() -> bool:
                undelivered = await conn.fetchval("SELECT count(*) FROM outbox_messages WHERE delivered_at IS NULL")
                return undelivered == 0 and len(subscriber.received) >= len(set(published))

            await eventually(all_delivered, within=20)
            await asyncio.sleep(0.5)  # a late duplicate would arrive now
            failed = await conn.fetchval("SELECT count(*) FROM outbox_messages WHERE attempts > 0")
        finally:
            await conn.close()
    finally:
        for process in replicas:
            process.stop()

    assert len(published) == ORDERS + CUSTOMERS  # order.created for each, customer.created for each new customer
    assert len(set(published)) == len(published)
    assert set(subscriber.received) == set(published)  # nothing lost, nothing invented
    duplicates = {event_id: n for event_id, n in subscriber.received.items() if n != 1}
    assert duplicates == {}, f"{len(duplicates)} events delivered more than once"
    assert failed == 0  # no retries hid a duplicate or a loss
    assert subscriber.by_replica["a"] > 0, subscriber.by_replica  # both relays delivered a share
    assert subscriber.by_replica["b"] > 0, subscriber.by_replica
    assert sum(subscriber.by_replica.values()) == len(published)
