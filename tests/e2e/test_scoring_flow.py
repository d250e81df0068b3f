"""End to end: gateway, customer service and scoring service as separate processes. A partner pushes an
order through the gateway; the customer service's outbox delivers `order.created` to the scoring service,
which rescores that customer; staff read the new scores through the gateway. A batch run through the
gateway then gives the customer CLV and base-relative classes, and a cancellation lowers the scores again."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import jwt
import pytest

from crm_customer.main import SERVICE_DIR as CUSTOMER_DIR
from crm_scoring.main import SERVICE_DIR as SCORING_DIR
from crm_shared.auth import generate_api_key
from crm_shared.testing import TEST_JWT_AUDIENCE, TEST_JWT_ISSUER, DatabaseFactory, ServerProcess, eventually, free_port
from tests.customer.helpers import order

JWT_SECRET = "e2e-jwt-secret-that-is-long-enough-for-hs256"
EVENT_SECRET = "e2e-scoring-event-secret-0123456789abcdef"


@dataclass
class Suite:
    gateway: ServerProcess
    customer: ServerProcess
    scoring: ServerProcess
    partner_key: str


@pytest.fixture
async def suite(databases: DatabaseFactory) -> Iterator[Suite]:
    customer_db = await databases.fresh(CUSTOMER_DIR)
    scoring_db = await databases.fresh(SCORING_DIR)
    key, key_id, hashed = generate_api_key()
    partner = {"id": key_id, "hash": hashed, "client_id": "acme-shop", "scopes": ["orders:write", "orders:read"]}
    scoring_port = free_port()
    scoring = ServerProcess(
        "crm_scoring.main:create_app",
        {"SCORING_DATABASE_URL": scoring_db, "SCORING_EVENT_SECRET": EVENT_SECRET, "SCORING_LOG_LEVEL": "WARNING"},
        port=scoring_port,
    )
    subscribers = [
        {
            "name": "scoring",
            "url": f"http://127.0.0.1:{scoring_port}/internal/events",
            "types": ["order.*", "customer.created", "customer.updated", "customer.merged"],
        }
    ]
    customer = ServerProcess(
        "crm_customer.main:create_app",
        {
            "CUSTOMER_DATABASE_URL": customer_db,
            "CUSTOMER_SUBSCRIBERS": json.dumps(subscribers),
            "CUSTOMER_EVENT_SECRET": EVENT_SECRET,
            "CUSTOMER_OUTBOX_POLL_SECONDS": "0.2",
            "CUSTOMER_OUTBOX_BACKOFF_BASE": "0.05",
            "CUSTOMER_LOG_LEVEL": "WARNING",
        },
    )
    gateway = ServerProcess(
        "crm_gateway.main:create_app",
        {
            "GATEWAY_SERVICES": json.dumps({"customer": customer.url, "scoring": scoring.url}),
            "GATEWAY_API_KEYS": json.dumps([partner]),
            "GATEWAY_JWT_SECRET": JWT_SECRET,
            "GATEWAY_LOG_LEVEL": "WARNING",
        },
    )
    try:
        scoring.wait_ready()
        customer.wait_ready()
        gateway.wait_ready("/healthz")
        yield Suite(gateway, customer, scoring, key)
    finally:
        gateway.stop()
        customer.stop()
        scoring.stop()


def _staff(*roles: str) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": "staff-1", "roles": list(roles), "iat": now, "exp": now + 600}
    token = jwt.encode({**claims, "aud": TEST_JWT_AUDIENCE, "iss": TEST_JWT_ISSUER}, JWT_SECRET, "HS256")
    return {"Authorization": f"Bearer {token}"}


def _partner(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())}


async def test_an_order_pushed_through_the_gateway_changes_the_customers_scores(suite: Suite):
    async with httpx.AsyncClient(base_url=suite.gateway.url, timeout=30) as http:
        first = await http.post(
            "/api/v1/orders",
            json=order("SO-1", "C-9", ordered_at="2026-06-01T10:00:00Z"),
            headers=_partner(suite.partner_key),
        )
        assert first.status_code == 201, first.text
        customer_id = first.json()["customer_id"]
        url = f"/api/v1/scores/customers/{customer_id}"

        async def scored(orders: int) -> dict | None:
            r = await http.get(url, headers=_staff("analyst"))
            body = r.json() if r.status_code == 200 else None
            return body if body and body["summary"]["order_count"] == orders else None

        one = await eventually(lambda: scored(1))
        assert one["lifecycle"]["stage"] == "introduction"
        second = await http.post(
            "/api/v1/orders",
            json=order("SO-2", "C-9", amount="500.00", ordered_at="2026-11-01T10:00:00Z"),
            headers=_partner(suite.partner_key),
        )
        assert second.status_code == 201
        two = await eventually(lambda: scored(2))
        assert float(two["summary"]["total_spend"]) == pytest.approx(559.90)
        assert float(two["composite"]["score"]) > float(one["composite"]["score"])
        assert two["lifecycle"]["stage"] == "growth"
        # More customers, then a batch run started through the gateway by an admin.
        batch = [
            order(f"B-{i}", f"C-{i % 60}", ordered_at=f"2026-{1 + i % 10:02d}-{1 + i % 27:02d}T09:00:00Z")
            for i in range(240)
        ]
        r = await http.post("/api/v1/orders/batch", json={"orders": batch}, headers=_partner(suite.partner_key))
        assert r.status_code == 200, r.text
        assert (await http.post("/api/v1/scores/recompute", json={}, headers=_staff("analyst"))).status_code == 403

        async def all_scored() -> bool:
            listed = await http.get("/api/v1/scores/customers", params={"limit": 100}, headers=_staff("analyst"))
            return len(listed.json()["items"]) == 60 or None  # C-0..C-59 (C-9 pushed the first orders)

        await eventually(all_scored, within=30)
        run = await http.post("/api/v1/scores/recompute", json={}, headers=_staff("admin"))
        assert run.status_code == 202, run.text
        for _ in range(300):
            state = (await http.get(run.headers["location"], headers=_staff("analyst"))).json()
            if state["status"] != "running":
                break
            await asyncio.sleep(0.1)
        assert state["status"] == "succeeded", state
        after = (await http.get(url, headers=_staff("analyst"))).json()
        assert after["clv"] is not None
        assert after["abc"]["class"] in ("A", "B", "C")
        models = (await http.get("/api/v1/scores/models", headers=_staff("analyst"))).json()
        assert "mbgnbd" in models["fits"]
        # The big order is cancelled: the customer's spend and score fall back.
        cancel = await http.post(
            f"/api/v1/orders/{second.json()['id']}/cancel", json={"reason": "test"}, headers=_partner(suite.partner_key)
        )
        assert cancel.status_code == 200, cancel.text
        orders = after["summary"]["order_count"]  # C-9 also had orders in the batch
        back = await eventually(lambda: scored(orders - 1))
        assert float(back["summary"]["total_spend"]) == pytest.approx(float(after["summary"]["total_spend"]) - 500)
        assert float(back["composite"]["score"]) < float(after["composite"]["score"])
