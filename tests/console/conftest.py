"""The console against the real suite: every service and the gateway as processes (tests/e2e/stack.py), the
console as one more, seeded through the API with a small base: customers with orders (scored, then a batch
run), a declared churn, a complaint, a segment and a launched campaign."""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from crm_shared import launcher
from crm_shared.testing import DatabaseFactory, eventually
from tests.customer.helpers import order
from tests.e2e.stack import JWT_SECRET, PARTNER, Part, Stack, build_stack

CUSTOMERS = 30
READY_SECONDS = 120.0
# The console's development sign-in mints tokens as `make token` does (crm_shared.launcher.dev_token): the
# stack's gateway takes that audience and issuer, with the stack's JWT secret.
GATEWAY_ENV = {"GATEWAY_JWT_AUDIENCE": launcher.JWT_AUDIENCE, "GATEWAY_JWT_ISSUER": launcher.JWT_ISSUER}


def api_headers(role: str) -> dict[str, str]:
    """A staff token as the console's development sign-in mints it, for calling the API directly."""
    return {"Authorization": f"Bearer {launcher.dev_token({'jwt_secret': JWT_SECRET}, role)}"}


def idem(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Idempotency-Key": str(uuid.uuid4())}


@dataclass
class Suite:
    stack: Stack
    console: Part
    customers: dict[str, str] = field(default_factory=dict)  # partner reference -> customer id
    campaign_id: str = ""
    churned_id: str = ""

    @property
    def url(self) -> str:
        return self.console.url


def console_part(stack: Stack) -> Part:
    return Part(
        "crm_console.main:create_app",
        {
            "CONSOLE_ENVIRONMENT": "test",
            "CONSOLE_GATEWAY_URL": stack.url,
            "CONSOLE_SESSION_SECRET": secrets.token_urlsafe(32),
            "CONSOLE_DEV_JWT_SECRET": JWT_SECRET,
            "CONSOLE_LOG_LEVEL": "WARNING",
        },
    )


@pytest.fixture(scope="package")
async def suite(databases: DatabaseFactory) -> AsyncIterator[Suite]:
    stack = await build_stack(
        databases,
        services=("customer", "scoring", "churn", "campaign"),
        gateway_env=GATEWAY_ENV,
        partners={PARTNER: ("orders:read", "orders:write", "customers:read", "customers:write")},
    )
    console = console_part(stack)
    parts = [*stack.parts().values(), console]
    try:
        for part in parts:  # all at once, then each awaited: six processes on a busy 2-core machine take a while
            part.start(wait=False)
        for part in parts:
            part.wait_ready(timeout=READY_SECONDS)
        built = Suite(stack, console)
        async with httpx.AsyncClient(base_url=stack.url, timeout=60) as http:
            await seed(http, built)
        yield built
    finally:
        console.stop()
        stack.stop()


async def seed(http: httpx.AsyncClient, suite: Suite) -> None:
    admin = api_headers("admin")
    now = datetime.now(UTC)
    orders = [
        order(
            f"SO-{i}",
            f"C-{i % CUSTOMERS}",
            ordered_at=(now - timedelta(days=365 - 4 * i)).isoformat(),  # a year of history up to 5 days ago
            amount=f"{20 + 7 * (i % 11)}.00",
            customer={
                "external_id": f"C-{i % CUSTOMERS}",
                "first_name": f"Ana{i % CUSTOMERS}",
                "email": f"ana{i % CUSTOMERS}@example.com",
            },
            lines=[{"sku": "TEA-01", "quantity": "1", "unit_price": f"{20 + 7 * (i % 11)}.00", "product_line": "tea"}],
        )
        for i in range(3 * CUSTOMERS)
    ]
    r = await http.post("/api/v1/orders/batch", json={"orders": orders}, headers=idem(suite.stack.partner()))
    assert r.status_code == 200, r.text

    async def all_scored() -> bool | None:
        listed = await http.get("/api/v1/scores/customers", params={"limit": 100}, headers=admin)
        return (listed.status_code == 200 and len(listed.json()["items"]) == CUSTOMERS) or None

    await eventually(all_scored, within=60)
    run = await http.post("/api/v1/scores/recompute", json={}, headers=idem(admin))
    assert run.status_code == 202, run.text
    for _ in range(600):
        state = (await http.get(run.headers["location"], headers=admin)).json()
        if state["status"] != "running":
            break
        await asyncio.sleep(0.1)
    assert state["status"] == "succeeded", state
    for ref in range(CUSTOMERS):
        found = await http.get(
            "/api/v1/customers", params={"partner": PARTNER, "external_id": f"C-{ref}"}, headers=admin
        )
        suite.customers[f"C-{ref}"] = found.json()["items"][0]["id"]
    # one declared churn (the churn page's records and the customer's churn record)
    suite.churned_id = suite.customers["C-3"]

    async def known_to_churn() -> bool | None:
        r = await http.post(
            "/api/v1/churn/records", json={"customer_id": suite.churned_id, "note": "moved away"}, headers=idem(admin)
        )
        return r.status_code == 201 or None

    await eventually(known_to_churn, within=30)
    r = await http.post(
        "/api/v1/complaints",
        json={
            "customer_id": suite.customers["C-1"],
            "category": "delivery",
            "severity": "high",
            "channel": "phone",
            "subject": "Late parcel",
        },
        headers=idem(admin),
    )
    assert r.status_code == 201, r.text
    # a segment of everyone with an email and a launched campaign with a control group
    rules: dict[str, Any] = {"field": "stage", "op": "in", "value": ["introduction", "growth", "maturity", "decline"]}

    async def audience() -> int | None:
        r = await http.post("/api/v1/segments/preview", json={"rules": rules}, headers=admin)
        return r.json()["count"] if r.status_code == 200 and r.json()["count"] > 0 else None

    await eventually(audience, within=30)
    segment = await http.post("/api/v1/segments", json={"name": "Active", "rules": rules}, headers=idem(admin))
    assert segment.status_code == 201, segment.text
    campaign = await http.post(
        "/api/v1/campaigns",
        json={"name": "Come back", "objective": "retention", "segment_id": segment.json()["id"], "channel": "email",
              "subject": "Hi", "template": "Dear {{ customer.first_name }}", "control_share": "0.2"},
        headers=idem(admin),
    )  # fmt: skip
    assert campaign.status_code == 201, campaign.text
    suite.campaign_id = campaign.json()["id"]
    launch = await http.post(f"/api/v1/campaigns/{suite.campaign_id}/launch", headers=idem(admin))
    assert launch.status_code == 200, launch.text


class Browser:
    """A signed-in console session for server tests: the sign-in form, then pages by path."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.csrf = ""

    async def sign_in(self, role: str) -> None:
        page = await self.http.get("/login")
        self.csrf = csrf_of(page.text)
        r = await self.http.post("/login/dev", data={"role": role, "next": "/", "csrf_token": self.csrf})
        assert r.status_code == 303, r.text
        self.csrf = csrf_of((await self.http.get("/login")).text)  # a new session, a new token


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


@pytest.fixture
async def as_role(suite: Suite) -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    async def signed_in(role: str) -> Browser:
        http = httpx.AsyncClient(base_url=suite.url, timeout=30)
        clients.append(http)
        browser = Browser(http)
        await browser.sign_in(role)
        return browser

    yield signed_in
    for http in clients:
        await http.aclose()
