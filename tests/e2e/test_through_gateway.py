"""End to end: the gateway and the customer service as separate processes, talking real HTTP;
partners push orders with API keys, staff read with JWTs; an acknowledged order survives a crash of
the service and its events still reach a consumer."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from crm_customer.main import SERVICE_DIR
from crm_shared.embedded_pg import asyncpg_dsn
from crm_shared.testing import DatabaseFactory, eventually, free_port
from tests.customer.helpers import order
from tests.e2e.stack import Stack, build_stack, receiving, running, staff_token
from tests.support.receiver import CREATE_TABLE

PARTNER, READER = "acme-shop", "acme-reports"


@pytest.fixture
async def receiver_url(databases: DatabaseFactory) -> str:
    url = await databases.fresh(SERVICE_DIR)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    await conn.execute(CREATE_TABLE)
    await conn.close()
    return url


@pytest.fixture
def receiver_port() -> int:
    return free_port()


@pytest.fixture
async def suite(databases: DatabaseFactory, receiver_port: int) -> AsyncIterator[Stack]:
    subscribers = [
        {
            "name": "receiver",
            "url": f"http://127.0.0.1:{receiver_port}/internal/events",
            "types": ["order.*", "consent.*", "customer.merged"],
        }
    ]
    stack = await build_stack(
        databases,
        services=("customer",),
        partners={PARTNER: ("orders:read", "orders:write", "customers:read"), READER: ("orders:read",)},
        customer_env={"CUSTOMER_SUBSCRIBERS": json.dumps(subscribers)},
    )
    with running(stack):
        yield stack


def _auth(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4()), **extra}


def _jwt(roles: list[str], *, expires_in: int = 300) -> str:
    return staff_token(*roles, subject="staff-7", expires_in=expires_in)


async def test_partner_pushes_orders_through_the_gateway(suite: Stack):
    async with httpx.AsyncClient(base_url=suite.url, timeout=30) as http:
        one = await http.post("/api/v1/orders", json=order("E2E-1"), headers=_auth(suite.keys[PARTNER]))
        assert one.status_code == 201, one.text
        assert one.json()["partner"] == "acme-shop"
        assert one.headers.get("x-request-id")
        batch = [order(f"E2E-B{i}", f"C-{i % 3}") for i in range(200)] + [order("E2E-1"), order("bad", amount="x")]
        r = await http.post("/api/v1/orders/batch", json={"orders": batch}, headers=_auth(suite.keys[PARTNER]))
        assert r.status_code == 200, r.text
        assert (r.json()["created"], r.json()["duplicates"], r.json()["rejected"]) == (200, 1, 1)
        read = await http.get(f"/api/v1/orders/{one.json()['id']}", headers=_auth(suite.keys[READER]))
        assert read.status_code == 404  # another partner's order
        mine = await http.get(f"/api/v1/orders/{one.json()['id']}", headers=_auth(suite.keys[PARTNER]))
        assert mine.json()["external_id"] == "E2E-1"
        staff = await http.get(
            f"/api/v1/orders/{one.json()['id']}", headers={"Authorization": f"Bearer {_jwt(['analyst'])}"}
        )
        assert staff.status_code == 200
        export = await http.get("/api/v1/orders/export", headers=_auth(suite.keys[PARTNER]))
        assert len(export.text.splitlines()) == 201


async def test_gateway_refuses_what_it_should(suite: Stack):
    async with httpx.AsyncClient(base_url=suite.url, timeout=30) as http:
        anonymous = await http.post("/api/v1/orders", json=order(), headers={"Idempotency-Key": "k1"})
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/problem+json"
        wrong_key = await http.post("/api/v1/orders", json=order(), headers=_auth("crm_nope_secret"))
        assert wrong_key.status_code == 401
        read_only = await http.post("/api/v1/orders", json=order(), headers=_auth(suite.keys[READER]))
        assert read_only.status_code == 403
        analyst = await http.post("/api/v1/orders", json=order(), headers={**_auth(_jwt(["analyst"]))})
        assert analyst.status_code == 403
        expired = await http.get(
            "/api/v1/orders", headers={"Authorization": f"Bearer {_jwt(['admin'], expires_in=-60)}"}
        )
        assert expired.status_code == 401
        spoofed = await http.get(
            "/api/v1/orders",
            headers={**_auth(suite.keys[READER]), "x-crm-client-kind": "user", "x-crm-client-id": "acme-shop"},
        )
        assert spoofed.json()["items"] == []  # still the reader partner, who has no orders
        bad = await http.post("/api/v1/orders", json=order(amount="-1"), headers=_auth(suite.keys[PARTNER]))
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["pointer"] == "#/amount"
    conn = await asyncpg.connect(asyncpg_dsn(suite.customer_db))
    try:
        assert await conn.fetchval("SELECT count(*) FROM orders") == 0
    finally:
        await conn.close()


async def test_one_api_document_and_probes(suite: Stack):
    async with httpx.AsyncClient(base_url=suite.url, timeout=30) as http:
        spec = (await http.get("/openapi.json")).json()
        assert "/api/v1/orders/batch" in spec["paths"]
        assert "/api/v1/customers/{customer_id}" in spec["paths"]
        assert "OrderIn" in json.dumps(spec["components"]["schemas"])
        ready = await http.get("/readyz")
        assert ready.status_code in (200, 503)
        assert "customer" in ready.text
        assert (await http.get("/docs")).status_code == 200


async def test_acknowledged_order_survives_a_crash_and_its_event_arrives(suite: Stack, receiver_url, receiver_port):
    async with httpx.AsyncClient(base_url=suite.url, timeout=30) as http:
        r = await http.post("/api/v1/orders", json=order("CRASH-1"), headers=_auth(suite.keys[PARTNER]))
        assert r.status_code == 201
        order_id = r.json()["id"]
        # The consumer is down, so the event waits in the outbox; then the service dies hard.
        suite.customer.kill()
        suite.customer.start()
        again = await http.get(f"/api/v1/orders/{order_id}", headers=_auth(suite.keys[PARTNER]))
        assert again.status_code == 200
        assert again.json()["external_id"] == "CRASH-1"
    async with receiving(receiver_url, receiver_port) as conn:

        async def arrived():
            return await conn.fetchval("SELECT count(*) FROM received_events WHERE order_id = $1", order_id)

        assert await eventually(arrived, within=30) == 1


async def test_care_through_the_gateway(suite: Stack, receiver_url, receiver_port):
    staff = {"Authorization": f"Bearer {_jwt(['agent'])}"}
    async with httpx.AsyncClient(base_url=suite.url, timeout=30) as http:

        def w(headers: dict[str, str]) -> dict[str, str]:
            return {**headers, "Idempotency-Key": str(uuid.uuid4())}

        ana = (
            await http.post(
                "/api/v1/customers", json={"first_name": "Ana", "email": "ana@example.com"}, headers=w(staff)
            )
        ).json()
        dup = (
            await http.post(
                "/api/v1/customers", json={"first_name": "Ana", "email": "ANA@example.com"}, headers=w(staff)
            )
        ).json()
        opened = await http.post(
            "/api/v1/complaints",
            json={
                "customer_id": ana["id"],
                "category": "delivery",
                "severity": "high",
                "channel": "phone",
                "subject": "Parcel lost",
            },
            headers=w(staff),
        )
        assert opened.status_code == 201, opened.text
        cid = opened.json()["id"]
        refused = await http.post(f"/api/v1/complaints/{cid}/transitions", json={"action": "close"}, headers=w(staff))
        assert refused.status_code == 409
        assert refused.headers["content-type"] == "application/problem+json"
        started = await http.post(f"/api/v1/complaints/{cid}/transitions", json={"action": "start"}, headers=w(staff))
        assert started.json()["status"] == "in_progress"
        partner = await http.post(
            "/api/v1/complaints", json={"customer_id": ana["id"]}, headers=_auth(suite.keys[PARTNER])
        )
        assert partner.status_code == 403  # the partner key has no complaints:write
        tags = (await http.get(f"/api/v1/customers/{ana['id']}/tags", headers=staff)).json()
        assert "complainant" in str(tags)
        out = await http.put(
            f"/api/v1/customers/{ana['id']}/consents/email",
            json={"status": "opted_out", "source": "unsubscribe link"},
            headers=w(staff),
        )
        assert out.status_code == 200, out.text
        candidates = (await http.get("/api/v1/customers/duplicates", headers=staff)).json()
        assert dup["id"] in str(candidates)
        merged = await http.post(
            f"/api/v1/customers/{ana['id']}/merge", json={"merged_id": dup["id"]}, headers=w(staff)
        )
        assert merged.status_code == 200, merged.text
        resolved = await http.get(f"/api/v1/customers/{dup['id']}", headers=staff)
        assert resolved.json()["id"] == ana["id"]
        assert resolved.headers["content-location"] == f"/api/v1/customers/{ana['id']}"
        timeline = (await http.get(f"/api/v1/customers/{ana['id']}/timeline", headers=staff)).json()
        assert {"complaint_opened", "consent_changed"} <= {e["kind"] for e in timeline["items"]}
    async with receiving(receiver_url, receiver_port) as conn:

        async def delivered():
            rows = await conn.fetch("SELECT event_type FROM inbox_events")
            return {r[0] for r in rows} >= {"consent.changed", "customer.merged"}

        try:
            await eventually(delivered, within=30)
        except TimeoutError:
            pub = await asyncpg.connect(asyncpg_dsn(suite.customer_db))
            rows = await pub.fetch(
                "SELECT id, event_types, pending, attempts, last_error, dead, delivered_at "
                "FROM outbox_messages ORDER BY id"
            )
            await pub.close()
            raise AssertionError(f"not delivered; outbox: {[dict(r) for r in rows]}") from None
