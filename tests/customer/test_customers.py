"""Customers: create, read with ETag, optimistic updates, references, filters and pagination."""

import pytest

from crm_shared.testing import partner_headers

from .helpers import idem, outbox_events, snapshot

ANA = {
    "first_name": "Ana",
    "last_name": "Ruiz",
    "email": " Ana.Ruiz@Example.COM ",
    "phone": "+34 (600) 12-34-56",
    "address": {"city": "Sevilla", "country": "ES"},
    "external_refs": [{"partner": "shop-1", "external_id": "C-1"}],
}


async def _create(client, body=None):
    r = await client.post("/api/v1/customers", json=body or ANA, headers=idem())
    assert r.status_code == 201, r.text
    return r


async def test_create_normalizes_and_emits(client, db):
    r = await _create(client)
    c = r.json()
    assert c["display_name"] == "Ana Ruiz"
    assert c["email"] == "ana.ruiz@example.com"
    assert c["phone"] == "+34600123456"
    assert c["external_refs"] == [{"partner": "shop-1", "external_id": "C-1"}]
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"] == f"/api/v1/customers/{c['id']}"
    (event,) = await outbox_events(db)
    assert event["type"] == "customer.created"
    assert event["subject"] == c["id"]
    assert event["data"]["customer"]["email"] == "ana.ruiz@example.com"


async def test_company_customer(client):
    ref = [{"partner": "shop-1", "external_id": "ACME"}]  # a partner creates customers it references
    r = await _create(client, {"kind": "company", "company_name": "Acme SL", "external_refs": ref})
    assert r.json()["display_name"] == "Acme SL"
    assert r.json()["kind"] == "company"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"kind": "company", "first_name": "Ana"}, "#"),
        ({"first_name": "Ana", "email": "not-an-email"}, "#/email"),
        ({"first_name": "Ana", "phone": "12"}, "#/phone"),
        ({"first_name": "Ana", "kind": "robot"}, "#/kind"),
        ({"first_name": "Ana", "address": {"country": "Spain"}}, "#/address/country"),
        ({"first_name": "Ana", "favourite_colour": "red"}, "#/favourite_colour"),
        ({"first_name": ""}, "#/first_name"),
    ],
)
async def test_bad_customer_names_field_and_changes_nothing(client, db, body, pointer):
    before = await snapshot(db)
    r = await client.post("/api/v1/customers", json=body, headers=idem())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert any(e["pointer"] == pointer for e in r.json()["errors"]), r.json()
    assert await snapshot(db) == before


async def test_reference_taken_conflicts_and_changes_nothing(client, db):
    await _create(client)
    before = await snapshot(db)
    r = await client.post(
        "/api/v1/customers", json={"first_name": "Bo", "external_refs": ANA["external_refs"]}, headers=idem()
    )
    assert r.status_code == 409
    assert r.json()["external_id"] == "C-1"
    assert await snapshot(db) == before


async def test_update_with_if_match(client, db):
    c = (await _create(client)).json()
    url = f"/api/v1/customers/{c['id']}"
    got = await client.get(url)
    assert got.headers["etag"] == '"1"'
    r = await client.patch(
        url, json={"last_name": "Ruiz Gómez", "phone": None}, headers={**idem(), "If-Match": got.headers["etag"]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["display_name"] == "Ana Ruiz Gómez"
    assert r.json()["phone"] is None
    assert r.json()["version"] == 2
    assert r.headers["etag"] == '"2"'
    updated = [e for e in await outbox_events(db) if e["type"] == "customer.updated"]
    assert updated[0]["data"]["changed"] == ["last_name", "phone"]


async def test_stale_or_missing_if_match(client, db):
    c = (await _create(client)).json()
    url = f"/api/v1/customers/{c['id']}"
    await client.patch(url, json={"last_name": "X"}, headers={**idem(), "If-Match": '"1"'})
    before = await snapshot(db)
    stale = await client.patch(url, json={"last_name": "Y"}, headers={**idem(), "If-Match": '"1"'})
    assert stale.status_code == 412
    missing = await client.patch(url, json={"last_name": "Y"}, headers=idem())
    assert missing.status_code == 428
    nameless = await client.patch(
        url, json={"first_name": None, "last_name": None}, headers={**idem(), "If-Match": '"2"'}
    )
    assert nameless.status_code == 422
    assert await snapshot(db) == before


async def test_unknown_customer(client):
    r = await client.get("/api/v1/customers/8b6f7c4e-1d8a-4c1e-9a7e-2b4a3f5d6c7b")
    assert r.status_code == 404
    assert r.json()["status"] == 404


async def test_filters_and_pagination(client):
    names = ["Zoe Adams", "Yan Brown", "Xia Chen", "Will Diaz", "Vera Evans"]
    for i, name in enumerate(names):
        first, last = name.split()
        await _create(
            client,
            {
                "first_name": first,
                "last_name": last,
                "email": f"p{i}@example.com",
                "external_refs": [{"partner": "shop-1", "external_id": f"R-{i}"}],
            },
        )
    await _create(
        client,
        {"kind": "company", "company_name": "Acme", "external_refs": [{"partner": "shop-1", "external_id": "A"}]},
    )
    page = (await client.get("/api/v1/customers", params={"sort": "+display_name", "limit": 2})).json()
    assert [c["display_name"] for c in page["items"]] == ["Acme", "Vera Evans"]
    second = (
        await client.get(
            "/api/v1/customers", params={"sort": "+display_name", "limit": 2, "cursor": page["next_cursor"]}
        )
    ).json()
    assert [c["display_name"] for c in second["items"]] == ["Will Diaz", "Xia Chen"]
    newest = (await client.get("/api/v1/customers", params={"limit": 1})).json()["items"][0]
    assert newest["display_name"] == "Acme"
    assert [c["display_name"] for c in (await client.get("/api/v1/customers", params={"q": "an"})).json()["items"]] == [
        "Vera Evans",
        "Yan Brown",
    ]
    by_email = (await client.get("/api/v1/customers", params={"email": "P3@Example.com"})).json()["items"]
    assert [c["display_name"] for c in by_email] == ["Will Diaz"]
    by_ref = (await client.get("/api/v1/customers", params={"partner": "shop-1", "external_id": "R-1"})).json()
    assert [c["display_name"] for c in by_ref["items"]] == ["Yan Brown"]
    companies = (await client.get("/api/v1/customers", params={"kind": "company"})).json()["items"]
    assert [c["display_name"] for c in companies] == ["Acme"]
    wildcard = (await client.get("/api/v1/customers", params={"q": "%_"})).json()["items"]
    assert wildcard == []
    reuse = await client.get("/api/v1/customers", params={"sort": "-display_name", "cursor": page["next_cursor"]})
    assert reuse.status_code == 400


async def test_read_scope_cannot_write(client, db):
    headers = {**partner_headers("shop-1", "customers:read"), **idem()}
    r = await client.post("/api/v1/customers", json=ANA, headers=headers)
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
