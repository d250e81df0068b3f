"""Consent per channel (history + current state, effective at once), contact preferences, and the
list of customers with a given consent."""

import asyncio
import itertools
import uuid

import pytest

from .helpers import idem, outbox_events, snapshot


async def _customer(client, first="Ana"):
    # `client` is the partner shop-1: it sees the customers it holds a reference to.
    ref = {"partner": "shop-1", "external_id": f"C-{uuid.uuid4()}"}
    r = await client.post("/api/v1/customers", json={"first_name": first, "external_refs": [ref]}, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _put(client, cid, channel, status, source="web form"):
    return await client.put(
        f"/api/v1/customers/{cid}/consents/{channel}", json={"status": status, "source": source}, headers=idem()
    )


async def test_opt_in_then_out_records_history_and_current_state(client, db):
    cid = await _customer(client)
    first = await _put(client, cid, "email", "opted_in")
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "opted_in"
    out = await _put(client, cid, "email", "opted_out", "unsubscribe link")
    assert out.json() == {**out.json(), "channel": "email", "status": "opted_out", "source": "unsubscribe link"}
    # Effective at once: the current state is what outreach reads.
    current = await db.fetchrow("SELECT status, source FROM consents WHERE customer_id = $1", uuid.UUID(cid))
    assert tuple(current) == ("opted_out", "unsubscribe link")
    records = await db.fetch("SELECT status FROM consent_records WHERE customer_id = $1 ORDER BY id", uuid.UUID(cid))
    assert [r["status"] for r in records] == ["opted_in", "opted_out"]
    events = [e for e in await outbox_events(db) if e["type"] == "consent.changed"]
    assert [(e["data"]["status"], e["data"]["previous_status"]) for e in events] == [
        ("opted_in", None),
        ("opted_out", "opted_in"),
    ]
    assert events[1]["subject"] == cid
    assert events[1]["data"]["source"] == "unsubscribe link"
    assert events[1]["data"]["channel"] == "email"
    assert events[1]["data"]["at"]


async def test_unchanged_status_writes_nothing(client, db):
    cid = await _customer(client)
    await _put(client, cid, "sms", "opted_out", "call centre")
    before = await db.fetchval("SELECT count(*) FROM consent_records")
    events_before = len(await outbox_events(db))
    again = await _put(client, cid, "sms", "opted_out", "web form")
    assert again.status_code == 200
    assert again.json()["status"] == "opted_out"
    assert again.json()["source"] == "call centre"  # the current state, unchanged
    assert await db.fetchval("SELECT count(*) FROM consent_records") == before
    assert len(await outbox_events(db)) == events_before


async def test_overview_reports_unknown_channels_and_preferences(client):
    cid = await _customer(client)
    await _put(client, cid, "email", "opted_in")
    await _put(client, cid, "phone", "opted_out")
    await client.put(
        f"/api/v1/customers/{cid}/contact-preferences",
        json={"preferred_channel": "email", "max_contacts_per_month": 2},
        headers=idem(),
    )
    body = (await client.get(f"/api/v1/customers/{cid}/consents")).json()
    assert {c["channel"]: c["status"] for c in body["consents"]} == {
        "email": "opted_in",
        "sms": "unknown",
        "mail": "unknown",
        "phone": "opted_out",
    }
    assert body["preferred_channel"] == "email"
    assert body["max_contacts_per_month"] == 2


async def test_history_newest_first_paginated_and_filtered(client):
    cid = await _customer(client)
    for status in ("opted_in", "opted_out", "opted_in"):
        await _put(client, cid, "email", status)
    await _put(client, cid, "mail", "opted_in")
    url = f"/api/v1/customers/{cid}/consents/history"
    page = (await client.get(url, params={"limit": 3})).json()
    assert [(r["channel"], r["status"]) for r in page["items"]] == [
        ("mail", "opted_in"),
        ("email", "opted_in"),
        ("email", "opted_out"),
    ]
    rest = (await client.get(url, params={"limit": 3, "cursor": page["next_cursor"]})).json()
    assert [(r["channel"], r["status"]) for r in rest["items"]] == [("email", "opted_in")]
    assert rest["next_cursor"] is None
    emails = (await client.get(url, params={"channel": "email"})).json()["items"]
    assert len(emails) == 3
    tampered = await client.get(url, params={"limit": 3, "cursor": page["next_cursor"], "channel": "email"})
    assert tampered.status_code == 400


@pytest.mark.parametrize(
    ("channel", "body", "where"),
    [
        ("fax", {"status": "opted_in", "source": "web"}, ("parameter", "channel")),
        ("email", {"status": "maybe", "source": "web"}, ("pointer", "#/status")),
        ("email", {"status": "opted_in"}, ("pointer", "#/source")),
        ("email", {"status": "opted_in", "source": ""}, ("pointer", "#/source")),
        ("email", {"status": "opted_in", "source": "x" * 101}, ("pointer", "#/source")),
        ("email", {"status": "opted_in", "source": "web", "extra": 1}, ("pointer", "#/extra")),
    ],
)
async def test_bad_consent_names_field_and_changes_nothing(client, db, channel, body, where):
    cid = await _customer(client)
    before = await snapshot(db)
    r = await client.put(f"/api/v1/customers/{cid}/consents/{channel}", json=body, headers=idem())
    assert r.status_code == 422, r.text
    assert any(e.get(where[0]) == where[1] for e in r.json()["errors"]), r.json()
    assert await snapshot(db) == before


async def test_unknown_customer_consent_is_404_and_changes_nothing(client, db):
    before = await snapshot(db)
    r = await _put(client, str(uuid.uuid4()), "email", "opted_in")
    assert r.status_code == 404
    assert await snapshot(db) == before
    assert (await client.get(f"/api/v1/customers/{uuid.uuid4()}/consents")).status_code == 404


async def test_concurrent_changes_keep_history_consistent(client, db):
    cid = await _customer(client)
    results = await asyncio.gather(*(_put(client, cid, "sms", s) for s in ["opted_in", "opted_out"] * 4))
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    records = await db.fetch("SELECT status FROM consent_records WHERE customer_id = $1 ORDER BY id", uuid.UUID(cid))
    statuses = [r["status"] for r in records]
    # Serialized per customer: every record changes the status, and the current state is the last one.
    assert all(a != b for a, b in itertools.pairwise(statuses))
    current = await db.fetchval("SELECT status FROM consents WHERE customer_id = $1", uuid.UUID(cid))
    assert current == statuses[-1]
    events = [e for e in await outbox_events(db) if e["type"] == "consent.changed"]
    assert [e["data"]["previous_status"] for e in events[1:]] == [e["data"]["status"] for e in events[:-1]]


async def test_contact_preferences_update_customer_and_emit(client, db):
    cid = await _customer(client)
    r = await client.put(
        f"/api/v1/customers/{cid}/contact-preferences",
        json={"preferred_channel": "sms", "max_contacts_per_month": 4},
        headers={**idem(), "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"customer_id": cid, "preferred_channel": "sms", "max_contacts_per_month": 4, "version": 2}
    assert r.headers["etag"] == '"2"'
    row = await db.fetchrow(
        "SELECT preferred_channel, max_contacts_per_month, version, updated_at > created_at AS touched "
        "FROM customers WHERE id = $1",
        uuid.UUID(cid),
    )
    assert tuple(row) == ("sms", 4, 2, True)
    (event,) = [e for e in await outbox_events(db) if e["type"] == "contact_preferences.changed"]
    assert event["data"]["changed"] == ["preferred_channel", "max_contacts_per_month"]
    assert event["data"]["version"] == 2
    # Only the fields present change; null clears; an unchanged value changes nothing.
    partial = await client.put(
        f"/api/v1/customers/{cid}/contact-preferences", json={"preferred_channel": None}, headers=idem()
    )
    assert partial.json()["preferred_channel"] is None
    assert partial.json()["max_contacts_per_month"] == 4
    assert partial.json()["version"] == 3
    events_before = len(await outbox_events(db))
    same = await client.put(
        f"/api/v1/customers/{cid}/contact-preferences", json={"max_contacts_per_month": 4}, headers=idem()
    )
    assert same.json()["version"] == 3
    assert len(await outbox_events(db)) == events_before
    customer = (await client.get(f"/api/v1/customers/{cid}")).json()
    assert customer["version"] == 3


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"max_contacts_per_month": 101}, "#/max_contacts_per_month"),
        ({"max_contacts_per_month": -1}, "#/max_contacts_per_month"),
        ({"preferred_channel": "pigeon"}, "#/preferred_channel"),
        ({"frequency": 3}, "#/frequency"),
    ],
)
async def test_bad_preferences_name_field_and_change_nothing(client, db, body, pointer):
    cid = await _customer(client)
    before = await snapshot(db)
    r = await client.put(f"/api/v1/customers/{cid}/contact-preferences", json=body, headers=idem())
    assert r.status_code == 422
    assert any(e.get("pointer") == pointer for e in r.json()["errors"]), r.json()
    assert await snapshot(db) == before


async def test_stale_if_match_on_preferences_changes_nothing(client, db):
    cid = await _customer(client)
    before = await snapshot(db)
    r = await client.put(
        f"/api/v1/customers/{cid}/contact-preferences",
        json={"max_contacts_per_month": 1},
        headers={**idem(), "If-Match": '"7"'},
    )
    assert r.status_code == 412
    assert await snapshot(db) == before


async def test_customers_with_a_consent(api):
    client = api  # the campaign service's feed: staff and services, not partners
    ids = [await _customer(client, f"P{i}") for i in range(5)]
    for i, cid in enumerate(ids):
        await _put(client, cid, "email", "opted_in" if i != 2 else "opted_out")
    await _put(client, ids[4], "email", "opted_out")  # opted out later: no longer listed
    await _put(client, ids[3], "sms", "opted_in")
    expected = sorted([ids[0], ids[1], ids[3]])
    page = (await client.get("/api/v1/customers/consents", params={"channel": "email", "limit": 2})).json()
    assert [i["customer_id"] for i in page["items"]] == expected[:2]
    rest = (
        await client.get(
            "/api/v1/customers/consents", params={"channel": "email", "limit": 2, "cursor": page["next_cursor"]}
        )
    ).json()
    assert [i["customer_id"] for i in rest["items"]] == expected[2:]
    assert rest["next_cursor"] is None
    out = (await client.get("/api/v1/customers/consents", params={"channel": "email", "status": "opted_out"})).json()
    assert sorted(i["customer_id"] for i in out["items"]) == sorted([ids[2], ids[4]])
    missing = await client.get("/api/v1/customers/consents")
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["parameter"] == "channel"
    reused = await client.get(
        "/api/v1/customers/consents", params={"channel": "sms", "limit": 2, "cursor": page["next_cursor"]}
    )
    assert reused.status_code == 400


async def test_an_opt_out_survives_a_merge_and_both_histories_stay_readable(api, client):
    # Merging is a staff feature; the partner holds a reference to both customers, so to the survivor.
    s, m = await _customer(api), await _customer(api, "Anna")
    await _put(api, s, "email", "opted_out", "unsubscribe link")
    await _put(api, m, "email", "opted_in", "shop checkout")  # later, on the record that gets merged
    merged = await api.post(f"/api/v1/customers/{s}/merge", json={"merged_id": m}, headers=idem())
    assert merged.status_code == 200, merged.text
    for reader, cid in ((api, s), (client, m)):
        overview = (await reader.get(f"/api/v1/customers/{cid}/consents")).json()
        assert overview["customer_id"] == s
        assert {c["channel"]: c["status"] for c in overview["consents"]}["email"] == "opted_out"
        history = (await reader.get(f"/api/v1/customers/{cid}/consents/history", params={"channel": "email"})).json()
        assert [(h["status"], h["source"]) for h in history["items"]] == [
            ("opted_in", "shop checkout"),
            ("opted_out", "unsubscribe link"),
        ]
