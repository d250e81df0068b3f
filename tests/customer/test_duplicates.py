"""Duplicate candidates: same normalized email, same normalized phone, similar names within a company (kept
groups, recomputed by the app's background worker: the tests wait for it before reading name groups)."""

import uuid

import pytest

from crm_customer.hygiene.names import name_clusters, similar
from crm_shared.testing import eventually

from .helpers import idem


@pytest.fixture
async def client(api):
    """These are staff features (partners may not use them): the tests call as a staff user."""
    return api


async def _customer(client, **body):
    r = await client.post("/api/v1/customers", json={"first_name": "Ana", **body}, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _company(client, name="Acme SL"):
    return await _customer(client, kind="company", company_name=name)


async def _member(client, db, company, first, last):
    cid = await _customer(client, first_name=first, last_name=last)
    await db.execute("UPDATE customers SET company_id = $1 WHERE id = $2", uuid.UUID(company), uuid.UUID(cid))
    return cid


async def _name_groups_current(client) -> None:
    """Wait until the background refresh has recomputed every marked company."""

    async def current() -> bool:
        r = await client.get("/api/v1/customers/duplicates", params={"reason": "name", "limit": 1})
        return r.json()["pending_companies"] == 0

    await eventually(current)


def test_similarity_rule():
    assert similar("jon smith", "john smith")
    assert similar("ana ruiz", "ana ruiz")
    assert not similar("ana ruiz", "bo chen")
    ids = [uuid.UUID(int=i) for i in range(4)]
    clusters = name_clusters([(ids[0], "Li Wei"), (ids[1], "li  wei."), (ids[2], "Maria Lopez"), (ids[3], "Ana")])
    assert clusters == [[ids[0], ids[1]]]


async def test_email_and_phone_groups(client):
    a = await _customer(client, email="Ana@Example.com", phone="+34 600 11 22 33")
    b = await _customer(client, first_name="Anna", email="ana@example.COM ")
    c = await _customer(client, first_name="Ann", phone="0034600112233")
    await _customer(client, first_name="Bo", email="bo@example.com")
    r = await client.get("/api/v1/customers/duplicates")
    assert r.status_code == 200, r.text
    groups = r.json()["items"]
    assert [(g["reason"], g["key"]) for g in groups] == [("email", "ana@example.com"), ("phone", "+34600112233")]
    assert [m["id"] for m in groups[0]["customers"]] == [a, b]  # oldest first
    assert [m["id"] for m in groups[1]["customers"]] == [a, c]
    only_phone = (await client.get("/api/v1/customers/duplicates", params={"reason": "phone"})).json()["items"]
    assert [g["reason"] for g in only_phone] == ["phone"]


async def test_similar_names_within_one_company(client, db):
    acme = await _company(client)
    other = await _company(client, "Other SA")
    jon = await _member(client, db, acme, "Jon", "Smith")
    john = await _member(client, db, acme, "John", "Smith")
    await _member(client, db, acme, "Maria", "Lopez")
    await _member(client, db, other, "John", "Smith")  # same name, other company: not a candidate
    await _customer(client, first_name="John", last_name="Smith")  # no company: not a candidate
    await _name_groups_current(client)
    groups = (await client.get("/api/v1/customers/duplicates", params={"reason": "name"})).json()["items"]
    assert len(groups) == 1
    assert groups[0]["company_id"] == acme
    assert groups[0]["key"] == acme
    assert sorted(m["id"] for m in groups[0]["customers"]) == sorted([jon, john])


async def test_merged_customers_are_excluded(client, db):
    a = await _customer(client, email="x@example.com")
    b = await _customer(client, email="x@example.com")
    assert len((await client.get("/api/v1/customers/duplicates")).json()["items"]) == 1
    await db.execute(
        "UPDATE customers SET merged_into = $1, merged_at = now() WHERE id = $2", uuid.UUID(a), uuid.UUID(b)
    )
    assert (await client.get("/api/v1/customers/duplicates")).json()["items"] == []


async def test_pagination_across_reasons(client, db):
    for i in range(3):
        await _customer(client, email=f"dup{i}@example.com")
        await _customer(client, email=f"dup{i}@example.com")
    for i in range(2):
        await _customer(client, phone=f"+4930123450{i}")
        await _customer(client, phone=f"+4930123450{i}")
    for i in range(3):
        company = await _company(client, f"Co {i}")
        await _member(client, db, company, "Li", "Wei")
        await _member(client, db, company, "Li", "Wei")
    await _name_groups_current(client)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/customers/duplicates", params=params)).json()
        assert len(page["items"]) <= 2
        seen += [(g["reason"], g["key"]) for g in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert [r for r, _ in seen] == ["email"] * 3 + ["phone"] * 2 + ["name"] * 3
    assert len(set(seen)) == 8
    first = (await client.get("/api/v1/customers/duplicates", params={"limit": 1})).json()
    reused = await client.get(
        "/api/v1/customers/duplicates", params={"limit": 1, "reason": "name", "cursor": first["next_cursor"]}
    )
    assert reused.status_code == 400
    bad = await client.get("/api/v1/customers/duplicates", params={"reason": "hair"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["parameter"] == "reason"


async def test_duplicates_is_not_taken_for_a_customer_id(client):
    r = await client.get("/api/v1/customers/duplicates")
    assert r.status_code == 200
    assert r.json() == {"items": [], "next_cursor": None, "pending_companies": 0}
