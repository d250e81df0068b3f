"""Contacts of a customer: CRUD, names, normalization, one primary contact, If-Match, events."""

import uuid

import pytest

from crm_shared.testing import partner_headers

from .helpers import idem, outbox_events, snapshot

LI = {"first_name": "Li", "last_name": "Wei", "relation": "employee", "role": "buyer"}


@pytest.fixture
async def client(api):
    """Staff calls: how a partner's calls are confined to its own customers is test_partner_isolation's."""
    return api


async def _customer(client, **body):
    r = await client.post("/api/v1/customers", json=body or {"first_name": "Ana"}, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _contact(client, customer_id, **over):
    r = await client.post(f"/api/v1/customers/{customer_id}/contacts", json={**LI, **over}, headers=idem())
    assert r.status_code == 201, r.text
    return r


async def test_create_normalizes_and_emits(client, db):
    cid = await _customer(client, kind="company", company_name="Acme")
    r = await _contact(client, cid, email=" Li.Wei@Acme.COM ", phone="+86 (138) 0013-8000")
    c = r.json()
    assert c["customer_id"] == cid
    assert c["email"] == "li.wei@acme.com"
    assert c["phone"] == "+8613800138000"
    assert c["relation"] == "employee"
    assert c["role"] == "buyer"
    assert c["is_primary"] is False
    assert c["version"] == 1
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"] == f"/api/v1/customers/{cid}/contacts/{c['id']}"
    row = await db.fetchrow("SELECT * FROM contacts WHERE id = $1", uuid.UUID(c["id"]))
    assert row["email"] == "li.wei@acme.com"
    assert str(row["customer_id"]) == cid
    event = (await outbox_events(db))[-1]
    assert event["type"] == "contact.created"
    assert event["subject"] == cid
    assert event["data"]["contact"]["id"] == c["id"]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"relation": "employee"}, "#/first_name"),
        ({"first_name": "", "relation": "employee"}, "#/first_name"),
        ({"first_name": "Li", "relation": "cousin"}, "#/relation"),
        ({"first_name": "Li"}, "#/relation"),
        ({"first_name": "Li", "relation": "other", "email": "nope"}, "#/email"),
        ({"first_name": "Li", "relation": "other", "phone": "12"}, "#/phone"),
        ({"first_name": "Li", "relation": "other", "role": "x" * 101}, "#/role"),
        ({"first_name": "Li", "relation": "other", "age": 3}, "#/age"),
    ],
)
async def test_bad_contact_names_field_and_changes_nothing(client, db, body, pointer):
    cid = await _customer(client)
    before = await snapshot(db)
    r = await client.post(f"/api/v1/customers/{cid}/contacts", json=body, headers=idem())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert any(e.get("pointer") == pointer for e in r.json()["errors"]), r.json()
    assert await snapshot(db) == before


async def test_unknown_customer_is_404_and_changes_nothing(client, db):
    before = await snapshot(db)
    r = await client.post(f"/api/v1/customers/{uuid.uuid4()}/contacts", json=LI, headers=idem())
    assert r.status_code == 404
    assert (await client.get(f"/api/v1/customers/{uuid.uuid4()}/contacts")).status_code == 404
    assert await snapshot(db) == before


async def test_new_primary_clears_the_old_one(client, db):
    cid = await _customer(client)
    first = (await _contact(client, cid, is_primary=True)).json()
    second = (await _contact(client, cid, first_name="Mei", is_primary=True)).json()
    rows = await db.fetch("SELECT id, is_primary, version FROM contacts ORDER BY created_at")
    assert [(str(r["id"]), r["is_primary"], r["version"]) for r in rows] == [
        (first["id"], False, 2),
        (second["id"], True, 1),
    ]
    events = await outbox_events(db)
    cleared = [e for e in events if e["type"] == "contact.updated"]
    assert len(cleared) == 1
    assert cleared[0]["data"]["contact"]["id"] == first["id"]
    assert cleared[0]["data"]["changed"] == ["is_primary"]
    # making the first one primary again through PATCH clears the second
    r = await client.patch(
        f"/api/v1/customers/{cid}/contacts/{first['id']}",
        json={"is_primary": True},
        headers={**idem(), "If-Match": '"2"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["is_primary"] is True
    assert r.json()["version"] == 3
    assert await db.fetchval("SELECT count(*) FROM contacts WHERE is_primary") == 1
    assert await db.fetchval("SELECT id FROM contacts WHERE is_primary") == uuid.UUID(first["id"])


async def test_primary_is_per_customer(client, db):
    a, b = await _customer(client), await _customer(client, first_name="Bo")
    await _contact(client, a, is_primary=True)
    await _contact(client, b, is_primary=True)
    assert await db.fetchval("SELECT count(*) FROM contacts WHERE is_primary") == 2


async def test_get_list_and_pagination(client):
    cid = await _customer(client)
    ids = [
        (await _contact(client, cid, first_name=f"P{i}", relation=rel)).json()["id"]
        for i, rel in enumerate(["employee", "family_member", "employee"])
    ]
    one = await client.get(f"/api/v1/customers/{cid}/contacts/{ids[1]}")
    assert one.status_code == 200
    assert one.json()["relation"] == "family_member"
    assert one.headers["etag"] == '"1"'
    page = (await client.get(f"/api/v1/customers/{cid}/contacts", params={"limit": 2})).json()
    assert [c["id"] for c in page["items"]] == ids[:2]
    rest = (
        await client.get(f"/api/v1/customers/{cid}/contacts", params={"limit": 2, "cursor": page["next_cursor"]})
    ).json()
    assert [c["id"] for c in rest["items"]] == ids[2:]
    assert rest["next_cursor"] is None
    employees = (await client.get(f"/api/v1/customers/{cid}/contacts", params={"relation": "employee"})).json()
    assert [c["id"] for c in employees["items"]] == [ids[0], ids[2]]
    reused = await client.get(
        f"/api/v1/customers/{cid}/contacts", params={"relation": "employee", "cursor": page["next_cursor"]}
    )
    assert reused.status_code == 400
    bad = await client.get(f"/api/v1/customers/{cid}/contacts", params={"relation": "cousin"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["parameter"] == "relation"


async def test_contact_under_another_customer_is_404(client, db):
    a, b = await _customer(client), await _customer(client, first_name="Bo")
    contact = (await _contact(client, a)).json()
    before = await snapshot(db)
    url = f"/api/v1/customers/{b}/contacts/{contact['id']}"
    assert (await client.get(url)).status_code == 404
    assert (await client.patch(url, json={"role": "x"}, headers={**idem(), "If-Match": '"1"'})).status_code == 404
    assert (await client.delete(url, headers=idem())).status_code == 404
    assert await snapshot(db) == before


async def test_update_with_if_match(client, db):
    cid = await _customer(client)
    c = (await _contact(client, cid)).json()
    url = f"/api/v1/customers/{cid}/contacts/{c['id']}"
    r = await client.patch(
        url, json={"role": None, "email": "LI@X.ORG", "relation": "assistant"}, headers={**idem(), "If-Match": '"1"'}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["role"] is None
    assert body["email"] == "li@x.org"
    assert body["relation"] == "assistant"
    assert r.headers["etag"] == '"2"'
    event = (await outbox_events(db))[-1]
    assert event["type"] == "contact.updated"
    assert event["data"]["changed"] == ["role", "email", "relation"]


async def test_bad_updates_change_nothing(client, db):
    cid = await _customer(client)
    c = (await _contact(client, cid, last_name=None)).json()
    url = f"/api/v1/customers/{cid}/contacts/{c['id']}"
    before = await snapshot(db)
    stale = await client.patch(url, json={"role": "y"}, headers={**idem(), "If-Match": '"7"'})
    assert stale.status_code == 412
    missing = await client.patch(url, json={"role": "y"}, headers=idem())
    assert missing.status_code == 428
    nameless = await client.patch(url, json={"first_name": None}, headers={**idem(), "If-Match": '"1"'})
    assert nameless.status_code == 422
    assert nameless.json()["errors"][0]["pointer"] == "#/first_name"
    null_relation = await client.patch(url, json={"relation": None}, headers={**idem(), "If-Match": '"1"'})
    assert null_relation.status_code == 422
    assert null_relation.json()["errors"][0]["pointer"] == "#/relation"
    assert await snapshot(db) == before


async def test_delete(client, db):
    cid = await _customer(client)
    c = (await _contact(client, cid)).json()
    url = f"/api/v1/customers/{cid}/contacts/{c['id']}"
    before = await snapshot(db)
    stale = await client.delete(url, headers={**idem(), "If-Match": '"9"'})
    assert stale.status_code == 412
    assert await snapshot(db) == before
    r = await client.delete(url, headers={**idem(), "If-Match": '"1"'})
    assert r.status_code == 204
    assert await db.fetchval("SELECT count(*) FROM contacts") == 0
    event = (await outbox_events(db))[-1]
    assert event["type"] == "contact.deleted"
    assert event["data"] == {"contact_id": c["id"], "customer_id": cid}
    assert (await client.get(url)).status_code == 404
    assert (await client.delete(url, headers=idem())).status_code == 404


async def test_delete_contact_in_use_conflicts(client, db):
    cid = await _customer(client)
    c = (await _contact(client, cid)).json()
    await db.execute(
        "INSERT INTO interactions (customer_id, contact_id, channel, direction, occurred_at) "
        "VALUES ($1, $2, 'call', 'outbound', now())",
        uuid.UUID(cid),
        uuid.UUID(c["id"]),
    )
    before = await snapshot(db)
    r = await client.delete(f"/api/v1/customers/{cid}/contacts/{c['id']}", headers=idem())
    assert r.status_code == 409
    assert await snapshot(db) == before


async def test_write_needs_scope_and_key(client, db):
    cid = await _customer(client)
    before = await snapshot(db)
    r = await client.post(
        f"/api/v1/customers/{cid}/contacts", json=LI, headers={**idem(), **partner_headers("shop-2", "customers:read")}
    )
    assert r.status_code == 403
    r = await client.post(f"/api/v1/customers/{cid}/contacts", json=LI)
    assert r.status_code == 400
    assert await snapshot(db) == before


async def test_create_is_idempotent(client, db):
    cid = await _customer(client)
    key = idem()
    first = await client.post(f"/api/v1/customers/{cid}/contacts", json=LI, headers=key)
    again = await client.post(f"/api/v1/customers/{cid}/contacts", json=LI, headers=key)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await db.fetchval("SELECT count(*) FROM contacts") == 1
