"""Interactions: logging contacts with a customer, validation, listing with filters and pagination."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from crm_shared.testing import partner_headers, user_headers

from .helpers import idem, outbox_events, snapshot


@pytest.fixture
async def client(api):
    """These are staff features (partners may not use them): the tests call as a staff user."""
    return api


STAFF = user_headers("u1", "customers:read", "customers:write")


async def _customer(client, first="Ana", **extra):
    r = await client.post("/api/v1/customers", json={"first_name": first, **extra}, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _contact(db, customer_id):
    return await db.fetchval(
        "INSERT INTO contacts (customer_id, first_name, relation) VALUES ($1, 'Eva', 'family_member') RETURNING id",
        uuid.UUID(customer_id),
    )


def _body(**over):
    body = {"channel": "call", "direction": "outbound", "subject": "Win-back call", "occurred_at": _ago(hours=1)}
    body.update(over)
    return body


def _ago(**delta):
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


async def test_log_interaction_stores_and_emits(client, db):
    cid = await _customer(client)
    contact = await _contact(db, cid)
    r = await client.post(
        f"/api/v1/customers/{cid}/interactions",
        json=_body(outcome="Agreed to a visit", contact_id=str(contact)),
        headers={**idem(), **STAFF},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["customer_id"] == cid
    assert body["staff"] == "u1"  # default: the calling user
    assert body["contact_id"] == str(contact)
    assert r.headers["location"] == f"/api/v1/customers/{cid}/interactions/{body['id']}"
    row = await db.fetchrow("SELECT * FROM interactions WHERE id = $1", uuid.UUID(body["id"]))
    assert (row["channel"], row["direction"], row["outcome"]) == ("call", "outbound", "Agreed to a visit")
    (event,) = [e for e in await outbox_events(db) if e["type"] == "interaction.logged"]
    assert event["subject"] == cid
    assert event["data"]["interaction_id"] == body["id"]
    assert event["data"]["staff"] == "u1"
    got = await client.get(r.headers["location"])
    assert got.status_code == 200
    assert got.json()["subject"] == "Win-back call"


async def test_partners_may_not_log_interactions_and_explicit_staff_wins(client):
    cid = await _customer(client)
    shop = partner_headers("shop-1", "customers:read", "customers:write")
    by_partner = await client.post(f"/api/v1/customers/{cid}/interactions", json=_body(), headers={**idem(), **shop})
    assert by_partner.status_code == 403
    explicit = await client.post(
        f"/api/v1/customers/{cid}/interactions", json=_body(staff="Li Wei"), headers={**idem(), **STAFF}
    )
    assert explicit.json()["staff"] == "Li Wei"


@pytest.mark.parametrize(
    ("over", "pointer"),
    [
        ({"channel": "fax"}, "#/channel"),
        ({"direction": "sideways"}, "#/direction"),
        ({"occurred_at": None}, "#/occurred_at"),
        ({"occurred_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, "#/occurred_at"),
        ({"occurred_at": "2026-01-01T10:00:00"}, "#/occurred_at"),  # no time zone
        ({"subject": "x" * 201}, "#/subject"),
        ({"mood": "happy"}, "#/mood"),
        ({"contact_id": "not-a-uuid"}, "#/contact_id"),
    ],
)
async def test_bad_interaction_names_field_and_changes_nothing(client, db, over, pointer):
    cid = await _customer(client)
    before = await snapshot(db)
    r = await client.post(f"/api/v1/customers/{cid}/interactions", json=_body(**over), headers=idem())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert any(e.get("pointer") == pointer for e in r.json()["errors"]), r.json()
    assert await snapshot(db) == before


async def test_contact_of_another_customer_is_refused(client, db):
    cid = await _customer(client)
    other = await _customer(client, "Bo")
    contact = await _contact(db, other)
    before = await snapshot(db)
    r = await client.post(f"/api/v1/customers/{cid}/interactions", json=_body(contact_id=str(contact)), headers=idem())
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "#/contact_id"
    assert await snapshot(db) == before


async def test_unknown_customer_is_404_and_changes_nothing(client, db):
    before = await snapshot(db)
    r = await client.post(f"/api/v1/customers/{uuid.uuid4()}/interactions", json=_body(), headers=idem())
    assert r.status_code == 404
    assert await snapshot(db) == before
    assert (await client.get(f"/api/v1/customers/{uuid.uuid4()}/interactions")).status_code == 404


async def test_write_needs_scope_and_idempotency_key(client, settings, db):
    cid = await _customer(client)
    before = await snapshot(db)
    reader = user_headers("u2", "customers:read")
    assert (
        await client.post(f"/api/v1/customers/{cid}/interactions", json=_body(), headers={**idem(), **reader})
    ).status_code == 403
    assert (await client.post(f"/api/v1/customers/{cid}/interactions", json=_body())).status_code == 400
    assert await snapshot(db) == before


async def test_replay_with_same_key(client, db):
    cid = await _customer(client)
    key, body = idem(), _body()
    first = await client.post(f"/api/v1/customers/{cid}/interactions", json=body, headers=key)
    again = await client.post(f"/api/v1/customers/{cid}/interactions", json=body, headers=key)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert await db.fetchval("SELECT count(*) FROM interactions") == 1


async def test_list_newest_first_with_filters_and_pagination(client):
    cid = await _customer(client)
    other = await _customer(client, "Bo")
    await client.post(f"/api/v1/customers/{other}/interactions", json=_body(), headers=idem())
    specs = [
        ("call", "outbound", 5),
        ("email", "inbound", 4),
        ("email", "outbound", 3),
        ("sms", "outbound", 2),
        ("visit", "inbound", 1),
    ]
    for channel, direction, days in specs:
        r = await client.post(
            f"/api/v1/customers/{cid}/interactions",
            json=_body(channel=channel, direction=direction, occurred_at=_ago(days=days), subject=channel),
            headers=idem(),
        )
        assert r.status_code == 201, r.text
    url = f"/api/v1/customers/{cid}/interactions"
    page = (await client.get(url, params={"limit": 2})).json()
    assert [i["channel"] for i in page["items"]] == ["visit", "sms"]
    page2 = (await client.get(url, params={"limit": 2, "cursor": page["next_cursor"]})).json()
    assert [i["channel"] for i in page2["items"]] == ["email", "email"]
    page3 = (await client.get(url, params={"limit": 2, "cursor": page2["next_cursor"]})).json()
    assert [i["channel"] for i in page3["items"]] == ["call"]
    assert page3["next_cursor"] is None
    emails = (await client.get(url, params={"channel": "email"})).json()["items"]
    assert [i["direction"] for i in emails] == ["outbound", "inbound"]
    inbound = (await client.get(url, params={"direction": "inbound"})).json()["items"]
    assert [i["channel"] for i in inbound] == ["visit", "email"]
    window = (await client.get(url, params={"from": _ago(days=4, hours=2), "to": _ago(days=2, hours=2)})).json()
    assert [i["channel"] for i in window["items"]] == ["email", "email"]


async def test_cursor_bound_to_filters_and_bad_filters(client):
    cid = await _customer(client)
    for _ in range(3):
        await client.post(f"/api/v1/customers/{cid}/interactions", json=_body(), headers=idem())
    url = f"/api/v1/customers/{cid}/interactions"
    page = (await client.get(url, params={"limit": 1})).json()
    reused = await client.get(url, params={"limit": 1, "cursor": page["next_cursor"], "channel": "sms"})
    assert reused.status_code == 400
    assert reused.json()["errors"][0]["parameter"] == "cursor"
    bad = await client.get(url, params={"channel": "fax"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["parameter"] == "channel"
