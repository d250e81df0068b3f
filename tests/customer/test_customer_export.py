"""The NDJSON customer export: every customer the caller may see, by id, resumable, contact data masked
without pii:read, merged customers included with `merged_into`."""

from __future__ import annotations

import json
import uuid

import httpx

from crm_customer.main import create_app
from crm_shared.testing import app_client, partner_headers, user_headers

STAFF = user_headers("agent-1", "customers:read", "customers:write", "pii:read")
MASKED = user_headers("analyst-1", "customers:read")


async def create(
    api: httpx.AsyncClient, i: int, *, headers: dict[str, str] | None = None, partner: str | None = None
) -> str:
    body = {"kind": "individual", "first_name": "Ana", "last_name": f"Ruiz {i}", "email": f"ana{i}@example.com"}
    if partner is not None:  # a partner creates customers under a reference of its own
        body["external_refs"] = [{"partner": partner, "external_id": f"c-{i}"}]
    r = await api.post("/api/v1/customers", json=body, headers={**(headers or {}), "Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def lines(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines() if line]


async def test_every_customer_once_by_id_and_resumable(settings) -> None:
    settings = settings.model_copy(update={"export_page_size": 2})  # several pages
    async with app_client(create_app(settings), headers=STAFF) as api:
        ids = [await create(api, i) for i in range(5)]
        everyone = lines(await api.get("/api/v1/customers/export"))
        assert [c["id"] for c in everyone] == sorted(ids)
        assert everyone[0]["email"].startswith("ana")  # pii:read: unmasked
        rest = lines(await api.get("/api/v1/customers/export", params={"after": everyone[1]["id"]}))
        assert [c["id"] for c in rest] == sorted(ids)[2:]
    async with app_client(create_app(settings), headers=MASKED) as analyst:
        masked = lines(await analyst.get("/api/v1/customers/export"))
        assert len(masked) == 5
        assert all(c["email"].startswith("a***@") for c in masked)


async def test_a_partner_exports_only_its_own_customers(settings) -> None:
    own = partner_headers("shop-1", "customers:read", "customers:write")
    other = partner_headers("shop-2", "customers:read", "customers:write")
    async with app_client(create_app(settings)) as api:
        mine = await create(api, 1, headers=own, partner="shop-1")
        await create(api, 2, headers=other, partner="shop-2")
        exported = lines(await api.get("/api/v1/customers/export", headers=own))
    assert [c["id"] for c in exported] == [mine]


async def test_a_bad_resume_point_is_refused(settings) -> None:
    async with app_client(create_app(settings), headers=STAFF) as api:
        r = await api.get("/api/v1/customers/export", params={"after": "not-an-id"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["parameter"] == "after"
