"""End to end: gateway, customer, scoring and churn services as separate processes. A partner pushes an
order dated long ago through the gateway; the customer service delivers it to scoring and churn; scoring
finds the customer churned (no purchase for longer than its churned_days) and tells churn
(`lifecycle.changed`), which opens an inferred churn record with the value at churn. A later order, delivered
to churn by the customer service, marks the record won back. Staff read it all through the gateway."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from crm_shared.testing import DatabaseFactory, eventually
from tests.customer.helpers import order
from tests.e2e.stack import PARTNER, Stack, build_stack, running, staff


@pytest.fixture
async def suite(databases: DatabaseFactory) -> AsyncIterator[Stack]:
    stack = await build_stack(
        databases, services=("customer", "scoring", "churn"), partners={PARTNER: ("orders:read", "orders:write")}
    )
    with running(stack) as started:
        yield started


def _partner(suite: Stack) -> dict[str, str]:
    return {**suite.partner(), "Idempotency-Key": str(uuid.uuid4())}


async def test_a_churned_customer_gets_a_record_and_a_later_order_wins_it_back(suite: Stack) -> None:
    long_ago = (datetime.now(UTC) - timedelta(days=3 * 365)).replace(microsecond=0)
    async with httpx.AsyncClient(base_url=suite.url, timeout=30) as http:
        first = await http.post(
            "/api/v1/orders",
            json=order("OLD-1", "C-77", amount="400.00", ordered_at=long_ago.isoformat()),
            headers=_partner(suite),
        )
        assert first.status_code == 201, first.text
        customer_id = first.json()["customer_id"]
        records = "/api/v1/churn/records"

        async def record() -> dict | None:
            r = await http.get(records, params={"customer_id": customer_id}, headers=staff("analyst"))
            assert r.status_code == 200, r.text
            items = r.json()["items"]
            return items[0] if items else None

        try:
            churned = await eventually(record, within=30)
        except AssertionError:
            pytest.fail(f"no churn record arrived\n{suite.logs()}")
        assert churned["source"] == "lifecycle"
        assert churned["status"] in ("churned", "in_winback")
        assert Decimal(churned["revenue_12m"]) == 0  # the only order is three years old
        assert churned["channel"] == "web"

        again = await http.post(
            "/api/v1/orders",
            json=order("NEW-1", "C-77", amount="80.00", ordered_at=datetime.now(UTC).isoformat()),
            headers=_partner(suite),
        )
        assert again.status_code == 201, again.text

        async def won_back() -> dict | None:
            r = await http.get(f"{records}/{churned['id']}", headers=staff("analyst"))
            body = r.json()
            return body if body["status"] == "won_back" else None

        won = await eventually(won_back, within=30)
        assert won["won_back_order_id"] == again.json()["id"]
        # the reports see it: one churned in this period, none lost
        period = {"from": (long_ago.date()).isoformat()}
        lost = await http.get("/api/v1/churn/reports/profit-lost", params=period, headers=staff("analyst"))
        assert lost.status_code == 200, lost.text
        assert lost.json()["total"]["lost_customers"] == 0
