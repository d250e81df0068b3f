"""SIGTERM under load, on a real service process (what a rolling update or a node drain sends): /readyz
turns 503 at once while the server goes on serving, requests in flight finish, the outbox relay claims
nothing more, and the process exits 0. No request fails."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from aiohttp import web

from crm_customer.main import SERVICE_DIR
from crm_shared.embedded_pg import asyncpg_dsn
from crm_shared.testing import DatabaseFactory, ServerProcess, user_headers
from tests.deploy.http_sink import sink

HEADERS = user_headers("u1", "customers:read", "customers:write")
DELAY = 2.0  # CUSTOMER_SHUTDOWN_DELAY_SECONDS: serving on after SIGTERM, readiness 503
LOCKED = 3  # requests held in flight across the shutdown by row locks the test holds


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A subscriber that takes every delivery (2xx) and keeps the bodies."""
    bodies: list[bytes] = []

    async def take(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return web.json_response({"accepted": True})

    async with sink("/internal/events", take) as url:
        yield url, bodies


async def create_customer(http: httpx.AsyncClient, name: str) -> dict[str, object]:
    r = await http.post("/api/v1/customers", json={"first_name": name}, headers={"Idempotency-Key": name})
    assert r.status_code == 201, r.text
    return r.json()


async def until(predicate, within: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.05)


async def test_sigterm_drains_without_a_failed_request(
    databases: DatabaseFactory, receiver: tuple[str, list[bytes]]
) -> None:
    db_url = await databases.fresh(SERVICE_DIR)
    url, delivered = receiver
    env = {
        "CUSTOMER_DATABASE_URL": db_url,
        "CUSTOMER_SHUTDOWN_DELAY_SECONDS": str(DELAY),
        "CUSTOMER_DB_LOCK_TIMEOUT_MS": "60000",
        "CUSTOMER_SUBSCRIBERS": json.dumps([{"name": "probe", "url": url, "types": ["customer.*"]}]),
        "CUSTOMER_LOG_LEVEL": "INFO",
    }
    db = await asyncpg.connect(asyncpg_dsn(db_url))
    proc = ServerProcess("crm_customer.main:create_app", env)
    try:
        proc.wait_ready()
        async with httpx.AsyncClient(base_url=proc.url, headers=HEADERS, timeout=60) as http:
            held = [await create_customer(http, f"held-{i}") for i in range(LOCKED)]
            await until(lambda: asyncio.sleep(0, len(delivered) > 0 and b"held-2" in b"".join(delivered)))

            # Requests in flight: each PATCH waits on a row lock this test holds until after the stop.
            lock = db.transaction()
            await lock.start()
            await db.execute("SELECT 1 FROM customers WHERE id = ANY($1::uuid[]) FOR UPDATE", [c["id"] for c in held])
            patches = [
                asyncio.create_task(
                    http.patch(
                        f"/api/v1/customers/{c['id']}",
                        json={"last_name": "Drained"},
                        headers={"If-Match": f'"{c["version"]}"', "Idempotency-Key": f"patch-{c['id']}"},
                    )
                )
                for c in held
            ]

            async def waiting_on_locks() -> bool:
                # pg_stat_clear_snapshot(): inside a transaction the activity view is otherwise read once.
                waiting = await db.fetchval(
                    "SELECT count(*) FROM pg_stat_activity, pg_stat_clear_snapshot() "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                return waiting == LOCKED

            await until(waiting_on_locks)

            # Load until the readiness probe says 503, as a load balancer would send it.
            ready_503 = asyncio.Event()
            answers: list[int] = []
            failures: list[str] = []

            async def load(worker: int) -> None:
                n = 0
                async with httpx.AsyncClient(base_url=proc.url, headers=HEADERS, timeout=30) as client:
                    while not ready_503.is_set():
                        n += 1
                        try:
                            if n % 2:
                                r = await client.get("/api/v1/customers", params={"limit": 20})
                            else:
                                body = {"first_name": f"load-{worker}-{n}"}
                                r = await client.post(
                                    "/api/v1/customers", json=body, headers={"Idempotency-Key": f"load-{worker}-{n}"}
                                )
                            answers.append(r.status_code)
                        except httpx.HTTPError as exc:
                            failures.append(f"{type(exc).__name__}: {exc}")

            workers = [asyncio.create_task(load(w)) for w in range(4)]
            await until(lambda: asyncio.sleep(0, len(answers) >= 20))
            proc.proc.send_signal(signal.SIGTERM)

            async def readiness_is_503() -> bool:
                return (await http.get("/readyz")).status_code == 503

            await until(readiness_is_503, within=DELAY)  # at once, well before the listener closes
            ready_503.set()
            await asyncio.gather(*workers)

            # Still serving during the delay; this event is written but must not be delivered.
            late = await create_customer(http, "after-sigterm")
            assert proc.proc.poll() is None

            # After the delay the server stops accepting connections, but the locked requests keep it alive.
            async def refused() -> bool:
                try:
                    async with httpx.AsyncClient(base_url=proc.url, timeout=1) as fresh:
                        await fresh.get("/healthz")
                except httpx.ConnectError:
                    return True
                except httpx.RemoteProtocolError:
                    # Accepted into the kernel's backlog just before the listener closed, then dropped unanswered:
                    # not served either (seen once in CI).
                    return True
                return False

            await until(refused, within=DELAY + 10)
            assert proc.proc.poll() is None, "exited with requests in flight"
            await lock.rollback()
            results = await asyncio.gather(*patches)
        exit_code = proc.proc.wait(30)
        output = proc.output()
    finally:
        proc.stop()
        await db.close()

    assert exit_code == 0, output[-3000:]
    assert failures == []
    assert answers
    assert set(answers) <= {200, 201}, sorted(set(answers))
    assert [r.status_code for r in results] == [200] * LOCKED
    assert all(r.json()["last_name"] == "Drained" for r in results)
    # Claims stopped at SIGTERM: the late event is still owed, for another replica or the next start.
    assert str(late["id"]).encode() not in b"".join(delivered)
    db = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        owed = await db.fetchval(
            "SELECT count(*) FROM outbox_messages WHERE delivered_at IS NULL AND position($1::bytea IN events) > 0",
            str(late["id"]).encode(),
        )
    finally:
        await db.close()
    assert owed == 1
    assert "SIGTERM: draining" in output
