"""End to end: gateway, customer, scoring and churn services as separate processes. A partner pushes an
order dated long ago through the gateway; the customer service delivers it to scoring and churn; scoring
finds the customer churned (no purchase for longer than its churned_days) and tells churn
(`lifecycle.changed`), which opens an inferred churn record with the value at churn and, the customer being
eligible (an admin set the win-back rules through the gateway to pursue any value), a win-back case. A
later order, delivered to churn by the customer service, marks the record won back and wins the case
(`winback.won` in churn's outbox). Staff read it all through the gateway."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import httpx
import pytest

from crm_shared.embedded_pg import asyncpg_dsn
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


async def _pursue_any_value(http: httpx.AsyncClient) -> None:
    """The win-back rules through the gateway (admin, If-Match): a churned customer of any value is pursued
    (the e2e customer's only order is years old, so its expected value is small)."""
    rules = "/api/v1/churn/winback/rules"
    read = await http.get(rules, headers=staff("admin"))
    assert read.status_code == 200, read.text
    body = {**read.json()["settings"], "min_expected_value": "0"}
    headers = {**staff("admin"), "If-Match": read.headers["ETag"], "Idempotency-Key": str(uuid.uuid4())}
    put = await http.put(rules, json=body, headers=headers)
    assert put.status_code == 200, put.text


async def _churn_events(suite: Stack, type_: str) -> list[dict]:
    conn = await asyncpg.connect(asyncpg_dsn(suite.databases["churn"]))
    try:
        rows = await conn.fetch("SELECT events FROM outbox_messages ORDER BY id")
    finally:
        await conn.close()
    return [e for r in rows for e in json.loads(r["events"]) if e["type"] == type_]


async def test_a_churned_customer_gets_a_record_and_a_later_order_wins_it_back(suite: Stack) -> None:
    long_ago = (datetime.now(UTC) - timedelta(days=3 * 365)).replace(microsecond=0)
    async with httpx.AsyncClient(base_url=suite.url, timeout=30) as http:
        await _pursue_any_value(http)
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
        assert churned["status"] == "in_winback"  # eligible: the case opened in the same transaction
        cases = await http.get(
            "/api/v1/churn/winback/cases", params={"customer_id": customer_id}, headers=staff("analyst")
        )
        assert cases.status_code == 200, cases.text
        [case] = cases.json()["items"]
        assert (case["record_id"], case["status"], case["phase"]) == (churned["id"], "analysis", "analysis")
        [opened] = await _churn_events(suite, "winback.opened")
        assert opened["data"]["case_id"] == case["id"]

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
        closed = await http.get(f"/api/v1/churn/winback/cases/{case['id']}", headers=staff("analyst"))
        assert (closed.json()["status"], closed.json()["order_id"]) == ("won", again.json()["id"])
        [event] = await _churn_events(suite, "winback.won")
        assert (event["data"]["case_id"], event["data"]["outcome"]) == (case["id"], "won")
        assert event["data"]["order_id"] == again.json()["id"]
        # the reports see it: one churned in this period, none lost
        period = {"from": (long_ago.date()).isoformat()}
        lost = await http.get("/api/v1/churn/reports/profit-lost", params=period, headers=staff("analyst"))
        assert lost.status_code == 200, lost.text
        assert lost.json()["total"]["lost_customers"] == 0
