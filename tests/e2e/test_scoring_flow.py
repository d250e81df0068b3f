"""End to end: gateway, customer service and scoring service as separate processes. A partner pushes an
order through the gateway; the customer service's outbox delivers `order.created` to the scoring service,
which rescores that customer; staff read the new scores through the gateway. A batch run through the
gateway then gives the customer CLV and base-relative classes, and a cancellation lowers the scores again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from crm_shared.testing import DatabaseFactory, eventually
from tests.customer.helpers import order
from tests.e2e.stack import PARTNER, Stack, build_stack, running, staff


@pytest.fixture
async def suite(databases: DatabaseFactory) -> AsyncIterator[Stack]:
    with running(await build_stack(databases, partners={PARTNER: ("orders:read", "orders:write")})) as stack:
        yield stack


def _partner(suite: Stack) -> dict[str, str]:
    return {**suite.partner(), "Idempotency-Key": str(uuid.uuid4())}


async def test_an_order_pushed_through_the_gateway_changes_the_customers_scores(suite: Stack):
    async with httpx.AsyncClient(base_url=suite.url, timeout=30) as http:
        first = await http.post(
            "/api/v1/orders",
            json=order("SO-1", "C-9", ordered_at="2026-06-01T10:00:00Z"),
            headers=_partner(suite),
        )
        assert first.status_code == 201, first.text
        customer_id = first.json()["customer_id"]
        url = f"/api/v1/scores/customers/{customer_id}"

        async def scored(orders: int) -> dict | None:
            r = await http.get(url, headers=staff("analyst"))
            body = r.json() if r.status_code == 200 else None
            return body if body and body["summary"]["order_count"] == orders else None

        one = await eventually(lambda: scored(1))
        assert one["lifecycle"]["stage"] == "introduction"
        second = await http.post(
            "/api/v1/orders",
            json=order("SO-2", "C-9", amount="500.00", ordered_at="2026-11-01T10:00:00Z"),
            headers=_partner(suite),
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
        r = await http.post("/api/v1/orders/batch", json={"orders": batch}, headers=_partner(suite))
        assert r.status_code == 200, r.text
        assert (await http.post("/api/v1/scores/recompute", json={}, headers=staff("analyst"))).status_code == 403

        async def all_scored() -> bool:
            listed = await http.get("/api/v1/scores/customers", params={"limit": 100}, headers=staff("analyst"))
            return len(listed.json()["items"]) == 60 or None  # C-0..C-59 (C-9 pushed the first orders)

        await eventually(all_scored, within=30)
        run = await http.post("/api/v1/scores/recompute", json={}, headers=staff("admin"))
        assert run.status_code == 202, run.text
        for _ in range(300):
            state = (await http.get(run.headers["location"], headers=staff("analyst"))).json()
            if state["status"] != "running":
                break
            await asyncio.sleep(0.1)
        assert state["status"] == "succeeded", state
        after = (await http.get(url, headers=staff("analyst"))).json()
        assert after["clv"] is not None
        assert after["abc"]["class"] in ("A", "B", "C")
        models = (await http.get("/api/v1/scores/models", headers=staff("analyst"))).json()
        assert "mbgnbd" in models["fits"]
        # The big order is cancelled: the customer's spend and score fall back.
        cancel = await http.post(
            f"/api/v1/orders/{second.json()['id']}/cancel", json={"reason": "test"}, headers=_partner(suite)
        )
        assert cancel.status_code == 200, cancel.text
        orders = after["summary"]["order_count"]  # C-9 also had orders in the batch
        back = await eventually(lambda: scored(orders - 1))
        assert float(back["summary"]["total_spend"]) == pytest.approx(float(after["summary"]["total_spend"]) - 500)
        assert float(back["composite"]["score"]) < float(after["composite"]["score"])
