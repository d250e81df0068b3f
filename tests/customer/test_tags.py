"""Positioning tags: the catalogue (system tags protected), per-customer assignment, events."""

import uuid

import pytest

from crm_shared.testing import user_headers

from .helpers import idem, outbox_events, snapshot


@pytest.fixture
async def client(api):
    """These are staff features (partners may not use them): the tests call as a staff user."""
    return api


SYSTEM = ["complainant", "key_account", "loyal", "member", "potential"]
STAFF = user_headers("u1", "customers:read", "customers:write")


async def _customer(client, name="Ana"):
    r = await client.post("/api/v1/customers", json={"first_name": name}, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _new_tag(client, key="vip_event", label="VIP event"):
    r = await client.post("/api/v1/customers/tags", json={"key": key, "label": label}, headers=idem())
    assert r.status_code == 201, r.text
    return r


async def test_catalogue_has_the_system_tags(client):
    r = await client.get("/api/v1/customers/tags")
    assert r.status_code == 200
    items = r.json()["items"]
    assert [t["key"] for t in items] == SYSTEM
    assert all(t["system"] for t in items)


async def test_create_tag_and_paginate(client, db):
    r = await _new_tag(client)
    assert r.json()["system"] is False
    assert r.json()["label"] == "VIP event"
    assert r.headers["location"] == "/api/v1/customers/tags/vip_event"
    assert await db.fetchval("SELECT system FROM tags WHERE key = 'vip_event'") is False
    page = (await client.get("/api/v1/customers/tags", params={"limit": 4})).json()
    assert [t["key"] for t in page["items"]] == SYSTEM[:4]
    rest = (await client.get("/api/v1/customers/tags", params={"limit": 4, "cursor": page["next_cursor"]})).json()
    assert [t["key"] for t in rest["items"]] == ["potential", "vip_event"]
    assert rest["next_cursor"] is None


async def test_duplicate_tag_conflicts_and_changes_nothing(client, db):
    await _new_tag(client)
    before = await snapshot(db)
    for key in ("vip_event", "loyal"):
        r = await client.post("/api/v1/customers/tags", json={"key": key, "label": "Again"}, headers=idem())
        assert r.status_code == 409
        assert r.json()["key"] == key
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"key": "VIP", "label": "x"}, "#/key"),
        ({"key": "1abc", "label": "x"}, "#/key"),
        ({"key": "a-b", "label": "x"}, "#/key"),
        ({"key": "a" * 65, "label": "x"}, "#/key"),
        ({"key": "ok", "label": " "}, "#/label"),
        ({"key": "ok"}, "#/label"),
        ({"key": "ok", "label": "x", "system": True}, "#/system"),
    ],
)
async def test_bad_tag_names_field_and_changes_nothing(client, db, body, pointer):
    before = await snapshot(db)
    r = await client.post("/api/v1/customers/tags", json=body, headers=idem())
    assert r.status_code == 422
    assert any(e.get("pointer") == pointer for e in r.json()["errors"]), r.json()
    assert await snapshot(db) == before


async def test_assign_is_idempotent_and_records_who(client, db):
    cid = await _customer(client)
    r = await client.put(f"/api/v1/customers/{cid}/tags/loyal", headers={**idem(), **STAFF})
    assert r.status_code == 201, r.text
    assert r.json()["key"] == "loyal"
    assert r.json()["source"] == "manual"
    assert r.json()["added_by"] == "u1"
    again = await client.put(f"/api/v1/customers/{cid}/tags/loyal", headers=idem())
    assert again.status_code == 200
    assert again.json()["added_by"] == "u1"
    row = await db.fetchrow("SELECT * FROM customer_tags")
    assert (str(row["customer_id"]), row["tag_key"], row["source"], row["added_by"]) == (cid, "loyal", "manual", "u1")
    events = [e for e in await outbox_events(db) if e["type"].startswith("tag.")]
    assert len(events) == 1
    assert events[0]["type"] == "tag.added"
    assert events[0]["subject"] == cid
    assert events[0]["data"] == {"customer_id": cid, "tag_key": "loyal", "source": "manual", "by": "u1"}


async def test_list_customer_tags(client):
    cid = await _customer(client)
    await _new_tag(client)
    for key in ("vip_event", "member"):
        await client.put(f"/api/v1/customers/{cid}/tags/{key}", headers=idem())
    r = await client.get(f"/api/v1/customers/{cid}/tags")
    assert r.status_code == 200
    assert [(t["key"], t["system"]) for t in r.json()["items"]] == [("member", True), ("vip_event", False)]
    assert r.json()["items"][0]["added_by"] == "u1"


async def test_unknown_tag_or_customer_is_404_and_changes_nothing(client, db):
    cid = await _customer(client)
    before = await snapshot(db)
    assert (await client.put(f"/api/v1/customers/{cid}/tags/nope", headers=idem())).status_code == 404
    assert (await client.delete(f"/api/v1/customers/{cid}/tags/nope", headers=idem())).status_code == 404
    assert (await client.put(f"/api/v1/customers/{uuid.uuid4()}/tags/loyal", headers=idem())).status_code == 404
    assert (await client.get(f"/api/v1/customers/{uuid.uuid4()}/tags")).status_code == 404
    assert (await client.delete("/api/v1/customers/tags/nope", headers=idem())).status_code == 404
    assert await snapshot(db) == before


async def test_remove_from_customer(client, db):
    cid = await _customer(client)
    await client.put(f"/api/v1/customers/{cid}/tags/potential", headers=idem())
    r = await client.delete(f"/api/v1/customers/{cid}/tags/potential", headers=idem())
    assert r.status_code == 204
    assert await db.fetchval("SELECT count(*) FROM customer_tags") == 0
    removed = [e for e in await outbox_events(db) if e["type"] == "tag.removed"]
    assert [(e["subject"], e["data"]["tag_key"]) for e in removed] == [(cid, "potential")]
    before = await snapshot(db)
    again = await client.delete(f"/api/v1/customers/{cid}/tags/potential", headers=idem())
    assert again.status_code == 204
    after = await snapshot(db)
    assert after["customer_tags"] == before["customer_tags"]
    assert after["outbox_messages"] == before["outbox_messages"]


async def test_system_tag_cannot_be_deleted(client, db):
    before = await snapshot(db)
    r = await client.delete("/api/v1/customers/tags/key_account", headers=idem())
    assert r.status_code == 409
    assert await snapshot(db) == before


async def test_assigned_tag_needs_force(client, db):
    a, b = await _customer(client), await _customer(client, "Bo")
    await _new_tag(client)
    for cid in (a, b):
        await client.put(f"/api/v1/customers/{cid}/tags/vip_event", headers=idem())
    before = await snapshot(db)
    r = await client.delete("/api/v1/customers/tags/vip_event", headers=idem())
    assert r.status_code == 409
    assert r.json()["assigned"] == 2
    assert await snapshot(db) == before
    forced = await client.delete("/api/v1/customers/tags/vip_event", params={"force": "true"}, headers=idem())
    assert forced.status_code == 204
    assert await db.fetchval("SELECT count(*) FROM tags WHERE key = 'vip_event'") == 0
    assert await db.fetchval("SELECT count(*) FROM customer_tags") == 0
    removed = [e for e in await outbox_events(db) if e["type"] == "tag.removed"]
    assert sorted(e["subject"] for e in removed) == sorted([a, b])


async def test_unassigned_user_tag_is_deleted(client, db):
    await _new_tag(client)
    r = await client.delete("/api/v1/customers/tags/vip_event", headers=idem())
    assert r.status_code == 204
    assert await db.fetchval("SELECT count(*) FROM tags WHERE key = 'vip_event'") == 0


async def test_filter_customers_by_tag(client):
    a, _b = await _customer(client), await _customer(client, "Bo")
    await client.put(f"/api/v1/customers/{a}/tags/member", headers=idem())
    r = await client.get("/api/v1/customers", params={"tag": "member"})
    assert r.status_code == 200
    assert [c["id"] for c in r.json()["items"]] == [a]
    assert (await client.get("/api/v1/customers", params={"tag": "loyal"})).json()["items"] == []
