"""End to end: two partners' API keys through a real gateway process in front of a real customer
service process. Each partner sees and changes only its own customers and orders; the other's answer
as unknown ids (404) or as unknown customers when pushing orders; staff with a JWT see everything."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from crm_shared.embedded_pg import asyncpg_dsn
from crm_shared.testing import DatabaseFactory
from tests.customer.helpers import order
from tests.e2e.stack import PARTNER_SCOPES, Stack, build_stack, running, staff

A, B = "shop-a", "shop-b"


@pytest.fixture
async def suite(databases: DatabaseFactory) -> AsyncIterator[Stack]:
    stack = await build_stack(databases, services=("customer",), partners={A: PARTNER_SCOPES, B: PARTNER_SCOPES})
    with running(stack):
        yield stack


def _as(suite: Stack, partner: str) -> dict[str, str]:
    return {**suite.partner(partner), "Idempotency-Key": str(uuid.uuid4())}


def _staff(role: str) -> dict[str, str]:
    return {**staff(role, subject="staff-1"), "Idempotency-Key": str(uuid.uuid4())}


def _ids(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


async def _rows(suite: Stack, sql: str) -> list[tuple]:
    conn = await asyncpg.connect(asyncpg_dsn(suite.customer_db))
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


async def test_partners_see_and_change_only_their_own_customers(suite: Stack):
    async with httpx.AsyncClient(base_url=suite.url, timeout=30) as http:
        created = await http.post(
            "/api/v1/customers",
            json={
                "first_name": "Ana",
                "email": "ana@example.com",
                "external_refs": [{"partner": A, "external_id": "A-1"}],
            },
            headers=_as(suite, A),
        )
        assert created.status_code == 201, created.text
        ana = created.json()["id"]
        bea = await http.post(
            "/api/v1/customers",
            json={"first_name": "Bea", "external_refs": [{"partner": B, "external_id": "B-1"}]},
            headers=_as(suite, B),
        )
        assert bea.status_code == 201, bea.text
        before = await _rows(suite, "SELECT id, version, email FROM customers ORDER BY id")

        # B: A's customer is not there, whichever way B asks or writes.
        read = await http.get(f"/api/v1/customers/{ana}", headers=_as(suite, B))
        assert read.status_code == 404
        assert read.headers["content-type"] == "application/problem+json"
        assert "ana@example.com" not in read.text
        for method, path, body, extra in [
            ("PATCH", f"/api/v1/customers/{ana}", {"email": "b@evil.example"}, {"If-Match": '"1"'}),
            ("PUT", f"/api/v1/customers/{ana}/consents/email", {"status": "opted_in", "source": "b"}, {}),
            ("POST", f"/api/v1/customers/{ana}/contacts", {"first_name": "Eve", "relation": "other"}, {}),
            ("GET", f"/api/v1/customers/{ana}/consents", None, {}),
        ]:
            r = await http.request(method, path, json=body, headers={**_as(suite, B), **extra})
            assert r.status_code == 404, (method, path, r.text)
        assert (await http.get(f"/api/v1/customers/{ana}/timeline", headers=_as(suite, B))).status_code == 403
        assert _ids(await http.get("/api/v1/customers", headers=_as(suite, B))) == {bea.json()["id"]}
        for search in ({"email": "ana@example.com"}, {"partner": A, "external_id": "A-1"}, {"external_id": "A-1"}):
            assert _ids(await http.get("/api/v1/customers", params=search, headers=_as(suite, B))) == set()
        claim = await http.post(
            "/api/v1/customers",
            json={"first_name": "Zoe", "external_refs": [{"partner": A, "external_id": "A-2"}]},
            headers=_as(suite, B),
        )
        assert claim.status_code == 422
        assert claim.json()["errors"][0]["pointer"] == "#/external_refs/0/partner"
        assert await _rows(suite, "SELECT id, version, email FROM customers ORDER BY id") == before
        assert await _rows(suite, "SELECT * FROM consents") == []
        assert await _rows(suite, "SELECT * FROM contacts") == []

        # A and staff still see it; staff see both partners' customers.
        assert (await http.get(f"/api/v1/customers/{ana}", headers=_as(suite, A))).json()["email"] == "ana@example.com"
        assert _ids(await http.get("/api/v1/customers", headers=_as(suite, A))) == {ana}
        staff = await http.get(f"/api/v1/customers/{ana}", headers=_staff("agent"))
        assert staff.json()["email"] == "ana@example.com"
        assert _ids(await http.get("/api/v1/customers", headers=_staff("agent"))) == {ana, bea.json()["id"]}


async def test_partners_see_only_their_own_orders_and_push_only_onto_their_customers(suite: Stack):
    async with httpx.AsyncClient(base_url=suite.url, timeout=30) as http:
        pushed = await http.post("/api/v1/orders", json=order("A-SO-1", "A-1"), headers=_as(suite, A))
        assert pushed.status_code == 201, pushed.text
        a_order, ana = pushed.json()["id"], pushed.json()["customer_id"]
        # The customer created from A's order carries A's reference, so A sees it and B does not.
        assert (await http.get(f"/api/v1/customers/{ana}", headers=_as(suite, A))).status_code == 200
        assert (await http.get(f"/api/v1/customers/{ana}", headers=_as(suite, B))).status_code == 404

        by_id = order("B-SO-1", customer_id=ana)
        del by_id["customer"]
        onto_a = await http.post("/api/v1/orders", json=by_id, headers=_as(suite, B))
        assert onto_a.status_code == 422, onto_a.text
        assert onto_a.json()["errors"][0]["pointer"] == "#/customer_id"
        b_pushed = await http.post("/api/v1/orders", json=order("B-SO-2", "B-1"), headers=_as(suite, B))
        assert b_pushed.status_code == 201, b_pushed.text
        b_order = b_pushed.json()["id"]
        assert await _rows(suite, "SELECT partner, customer_id::text FROM orders ORDER BY partner") == [
            (A, ana),
            (B, b_pushed.json()["customer_id"]),
        ]

        assert (await http.get(f"/api/v1/orders/{a_order}", headers=_as(suite, B))).status_code == 404
        by_external = await http.get(f"/api/v1/orders/by-external/A-SO-1?partner={A}", headers=_as(suite, B))
        assert by_external.status_code == 404
        cancel = await http.post(f"/api/v1/orders/{a_order}/cancel", json={}, headers=_as(suite, B))
        assert cancel.status_code == 404
        assert _ids(await http.get("/api/v1/orders", headers=_as(suite, B))) == {b_order}
        assert _ids(await http.get("/api/v1/orders", params={"customer_id": ana}, headers=_as(suite, B))) == set()
        export = await http.get("/api/v1/orders/export", headers=_as(suite, B))
        assert [json.loads(line)["id"] for line in export.text.splitlines()] == [b_order]
        assert _ids(await http.get("/api/v1/orders", headers=_staff("admin"))) == {a_order, b_order}
        assert await _rows(suite, "SELECT status FROM orders") == [("created",), ("created",)]
