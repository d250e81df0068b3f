"""Faults with real processes: the customer service killed (SIGKILL) in the middle of a bulk push, the
scoring service killed while events are delivered to it, PostgreSQL stopped and started under load.
Clients retry as the API tells them (same Idempotency-Key and body; 409 with Retry-After, 502-504 and
broken connections are retried). Whatever was acknowledged survives, every order is stored and applied
exactly once, and the processes that stayed up recover by themselves."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from sqlalchemy.engine import make_url

from crm_customer.main import SERVICE_DIR as CUSTOMER_DIR
from crm_shared.embedded_pg import asyncpg_dsn
from crm_shared.testing import DatabaseFactory, eventually
from tests.customer.helpers import order
from tests.e2e.postgres import StoppablePostgres
from tests.e2e.stack import Stack, build_stack, running

PROBLEM_JSON = "application/problem+json"


@dataclass
class Push:
    """One write as a client sends it; a retry repeats its key and body."""

    path: str
    body: dict[str, Any]
    key: str = field(default_factory=lambda: str(uuid.uuid4()))
    first: httpx.Response | None = None  # the first answer (None: the connection broke, no answer)
    final: httpx.Response | None = None  # the answer after retrying

    @property
    def acknowledged(self) -> bool:
        return self.first is not None and self.first.status_code in (200, 201)


def _retryable(r: httpx.Response | None) -> bool:
    """What a client must retry: no answer, the service down or restarting, or the key still held."""
    if r is None:
        return True
    return r.status_code in (502, 503, 504) or (r.status_code == 409 and "retry-after" in r.headers)


async def send(http: httpx.AsyncClient, push: Push, credentials: dict[str, str]) -> httpx.Response | None:
    try:
        return await http.post(push.path, json=push.body, headers={**credentials, "Idempotency-Key": push.key})
    except httpx.TransportError:
        return None


async def answered(
    http: httpx.AsyncClient, push: Push, credentials: dict[str, str], within: float = 30
) -> httpx.Response:
    """Send until the write gets a final answer."""
    deadline = time.monotonic() + within
    while True:
        r = await send(http, push, credentials)
        if not _retryable(r):
            assert r is not None
            return r
        assert time.monotonic() < deadline, f"{push.path} still unanswered after {within}s: {r and r.text}"
        await asyncio.sleep(0.2)  # sooner than Retry-After asks: the test wants the first moment it works


async def within(seconds: float, predicate: Callable[[], Awaitable[bool]], failure: str) -> None:
    try:
        await eventually(predicate, within=seconds)
    except TimeoutError:
        raise AssertionError(f"{failure} (waited {seconds:g}s)") from None


async def query(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def created_events(customer_db: str) -> Counter[str]:
    """order.created events in the customer service's outbox, by order id."""
    rows = await query(customer_db, "SELECT events FROM outbox_messages")
    return Counter(
        str(e["data"]["order_id"])
        for r in rows
        for e in msgspec.json.decode(r["events"])
        if e["type"] == "order.created"
    )


@pytest.fixture
async def stack(databases: DatabaseFactory) -> AsyncIterator[Stack]:
    stack = await build_stack(databases)
    try:
        yield stack
    finally:
        stack.stop()


def _batches(prefix: str, count: int, size: int) -> list[Push]:
    return [
        Push("/api/v1/orders/batch", {"orders": [order(f"{prefix}{b}-{i}", f"C-{i % 40}") for i in range(size)]})
        for b in range(count)
    ]


# --- a) the customer service killed mid bulk push ----------------------------------------------------


async def test_killed_mid_bulk_push_keeps_what_it_acknowledged_and_retries_store_each_order_once(stack: Stack):
    stack.start("customer", "gateway")  # scoring stays down: its events wait in the outbox
    partner = stack.partner()
    batches = _batches("K", count=8, size=400)
    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as http:
        one_acknowledged = asyncio.Event()

        async def lane(pushes: list[Push]) -> None:
            for push in pushes:
                push.first = await send(http, push, partner)
                if not push.acknowledged:
                    return  # the client stops at the first failure and retries later
                one_acknowledged.set()

        lanes = [asyncio.create_task(lane(batches[i::4])) for i in range(4)]
        await asyncio.wait_for(one_acknowledged.wait(), 60)
        stack.customer.kill()
        await asyncio.gather(*lanes)
        acknowledged = [p for p in batches if p.acknowledged]
        assert 0 < len(acknowledged) < len(batches), "the crash should hit the push midway"
        assert all(p.first is None or p.first.status_code in (200, 502, 503) for p in batches), [
            (p.first.status_code, p.first.text[:200]) for p in batches if p.first is not None
        ]

        # Before any retry: every acknowledged order is stored, and a batch is stored whole or not at all.
        stack.customer.start()
        stored = {
            r["external_id"]: str(r["id"]) for r in await query(stack.customer_db, "SELECT external_id, id FROM orders")
        }
        for push in acknowledged:
            assert push.first is not None
            for row in push.first.json()["results"]:
                assert stored.get(row["external_id"]) == row["order_id"], row
        for push in batches:
            present = sum(o["external_id"] in stored for o in push.body["orders"])
            assert present in (0, len(push.body["orders"])), f"a batch stored in part: {present}"

        for push in batches:
            push.final = await answered(http, push, partner)

    for push in batches:
        assert push.final is not None
        assert push.final.status_code == 200, push.final.text[:300]
        if push.acknowledged:  # the same answer again, from the stored response
            assert push.first is not None
            assert push.final.headers.get("idempotent-replayed") == "true"
            assert push.final.json() == push.first.json()
    results = [row for p in batches if p.final is not None for row in p.final.json()["results"]]
    assert Counter(row["status"] for row in results) == {"created": 8 * 400}
    stored = {
        r["external_id"]: str(r["id"]) for r in await query(stack.customer_db, "SELECT external_id, id FROM orders")
    }
    assert stored == {row["external_id"]: row["order_id"] for row in results}
    events = await created_events(stack.customer_db)
    assert set(events) == set(stored.values())
    assert set(events.values()) == {1}, "an order.created event was written twice"


# --- b) the scoring service killed while the outbox delivers to it -----------------------------------


async def test_scoring_killed_during_delivery_applies_every_order_once(stack: Stack):
    stack.start()
    partner = stack.partner()
    batches = _batches("S", count=10, size=300)
    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as http:
        for push in batches[:4]:
            assert (await answered(http, push, partner)).status_code == 200

        async def delivering() -> bool:
            return bool((await query(stack.scoring_db, "SELECT count(*) FROM purchases"))[0][0])

        await within(30, delivering, "no order reached scoring")
        stack.scoring.kill()
        for push in batches[4:]:  # pushed while scoring is down: the outbox keeps them
            assert (await answered(http, push, partner)).status_code == 200
    owed = "SELECT count(*) FROM outbox_messages WHERE 'scoring' = ANY(pending)"
    assert (await query(stack.customer_db, owed))[0][0] > 0
    stack.scoring.start()

    total = 10 * 300

    async def caught_up() -> bool:
        return (await query(stack.scoring_db, "SELECT count(*) FROM purchases"))[0][0] == total and not (
            await query(stack.customer_db, owed)
        )[0][0]

    await within(60, caught_up, "scoring did not catch up after its restart")
    orders = {r["id"]: r["amount"] for r in await query(stack.customer_db, "SELECT id, amount FROM orders")}
    purchases = {
        r["order_id"]: r["amount"] for r in await query(stack.scoring_db, "SELECT order_id, amount FROM purchases")
    }
    assert len(orders) == total
    assert purchases == orders
    # Each event applied once (a redelivered one is recognised), and the scores count each order once.
    applied = await query(stack.scoring_db, "SELECT count(*) FROM inbox_events WHERE event_type = 'order.created'")
    assert applied[0][0] == total
    expected = {
        r["customer_id"]: (r["n"], r["spend"])
        for r in await query(
            stack.customer_db, "SELECT customer_id, count(*) AS n, sum(amount) AS spend FROM orders GROUP BY 1"
        )
    }
    scored = {
        r["customer_id"]: (r["order_count"], r["total_spend"])
        for r in await query(stack.scoring_db, "SELECT customer_id, order_count, total_spend FROM customer_scores")
    }
    assert scored == expected
    dead = await query(stack.customer_db, "SELECT count(*) FROM outbox_messages WHERE dead")
    assert dead[0][0] == 0


# --- c) PostgreSQL stopped and started under load ----------------------------------------------------


@pytest.fixture
async def postgres() -> AsyncIterator[StoppablePostgres]:
    # A short path: the server's unix socket lives in its data folder (107-byte limit).
    server = StoppablePostgres(Path(f"/tmp/crm-fault-pg-{uuid.uuid4().hex[:8]}"))
    try:
        await asyncio.to_thread(server.init)
        await asyncio.to_thread(server.start)
        yield server
    finally:
        await asyncio.to_thread(server.cleanup)


def _errors(log: str, limit: int = 6000) -> str:
    """The log's error records (with their tracebacks), for a failure message."""
    records = [line for line in log.splitlines() if '"levelname": "ERROR"' in line or "Traceback" in line]
    return "\n".join(records)[-limit:] or log[-limit:]


@dataclass
class Sent:
    push: Push
    at: float  # monotonic time the answer came


async def test_postgres_restart_under_load_answers_503_then_recovers_without_restarts(
    databases: DatabaseFactory, postgres: StoppablePostgres
):
    # The customer service's database on the server this test stops; scoring's on the usual one, so
    # events reaching scoring show the customer service's relay (and its LISTEN) came back.
    customer_db = await DatabaseFactory(postgres.admin_url).fresh(CUSTOMER_DIR)
    with running(await build_stack(databases, customer_db=customer_db)) as stack:
        await _restart_under_load(stack, postgres)


async def _restart_under_load(stack: Stack, postgres: StoppablePostgres) -> None:
    partner = stack.partner()
    pids = {name: part.process.proc.pid for name, part in stack.parts().items() if part.process}
    sent: list[Sent] = []
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:

        async def lane(n: int) -> None:
            i = 0
            while not stop.is_set():
                push = Push("/api/v1/orders", order(f"PG{n}-{i}", f"C-{i % 20}"))
                push.first = await send(http, push, partner)
                sent.append(Sent(push, time.monotonic()))
                i += 1
                await asyncio.sleep(0.02)

        lanes = [asyncio.create_task(lane(n)) for n in range(4)]
        await asyncio.sleep(2)
        await asyncio.to_thread(postgres.stop)
        down_at = time.monotonic()
        await asyncio.sleep(1)  # the pool's connections are gone: every request needs a new one
        ready = await http.get(f"{stack.customer.url}/readyz")
        await asyncio.sleep(2)
        starting_at = time.monotonic()  # pg_ctl returns a little after the server accepts connections
        await asyncio.to_thread(postgres.start)
        up_at = time.monotonic()
        await asyncio.sleep(3)
        stop.set()
        await asyncio.gather(*lanes)

        answers = Counter(s.push.first.status_code if s.push.first else None for s in sent)
        wrong = [s.push.first for s in sent if s.push.first is None or s.push.first.status_code not in (201, 503)]
        assert not wrong, (
            f"{answers}: {[(r and (r.status_code, r.text[:200])) for r in wrong[:5]]}\n"
            f"customer service log:\n{_errors(stack.customer.output())}"
        )
        during = [s.push.first for s in sent if down_at + 0.5 < s.at < starting_at and s.push.first is not None]
        assert during, "no request was answered while the database was down"
        for r in during:
            assert (r.status_code, r.headers["content-type"]) == (503, PROBLEM_JSON), r.text
            assert r.headers.get("retry-after"), r.headers
        assert ready.status_code == 503, ready.text
        after = [s.push.first for s in sent if s.at > up_at + 2 and s.push.first is not None]
        assert after, "no request was answered after the database came back"
        assert {r.status_code for r in after} == {201}, Counter(r.status_code for r in after)
        assert pids == {name: part.process.proc.pid for name, part in stack.parts().items() if part.process}
        assert all(part.process and part.process.proc.poll() is None for part in stack.parts().values())

        # What was acknowledged is stored; what was refused is stored once the client retries it.
        stored = {
            r["external_id"]: str(r["id"]) for r in await query(stack.customer_db, "SELECT external_id, id FROM orders")
        }
        for s in sent:
            if s.push.acknowledged:
                assert s.push.first is not None
                assert stored.get(s.push.body["external_id"]) == s.push.first.json()["id"]
        for s in sent:
            s.push.final = s.push.first if s.push.acknowledged else await answered(http, s.push, partner)
            assert s.push.final.status_code == 201, s.push.final.text
    stored = {
        r["external_id"]: str(r["id"]) for r in await query(stack.customer_db, "SELECT external_id, id FROM orders")
    }
    assert stored == {s.push.body["external_id"]: s.push.final.json()["id"] for s in sent if s.push.final}

    # The relay listens again, and every order reaches scoring.
    database = make_url(stack.customer_db).database

    async def listening() -> bool:
        rows = await query(
            postgres.admin_url,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN%'",
            database,
        )
        return rows[0][0] > 0

    await within(10, listening, "the outbox relay does not LISTEN again after the database restart")

    async def delivered() -> bool:
        return (await query(stack.scoring_db, "SELECT count(*) FROM purchases"))[0][0] == len(stored)

    await within(20, delivered, "events stopped flowing to scoring after the database restart")
