"""Customer attributes the value score reads: payment terms, brand contribution, budget, share of
wallet, preferred channel and frequency; their validation, updates, events and list filters."""

import pytest

from .helpers import idem, outbox_events, snapshot

ATTRS = {
    "payment_terms": "on_time",
    "brand_contribution": "public_figure",
    "declared_budget": "25000.5",
    "share_of_wallet": "0.25",
    "preferred_channel": "sms",
    "max_contacts_per_month": 4,
}


@pytest.fixture
async def client(api):
    """Staff calls: how a partner's calls are confined to its own customers is test_partner_isolation's."""
    return api


async def _create(client, **body):
    r = await client.post("/api/v1/customers", json={"first_name": "Ana", **body}, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_with_attributes(client, db):
    c = await _create(client, **ATTRS)
    assert c["payment_terms"] == "on_time"
    assert c["brand_contribution"] == "public_figure"
    assert c["declared_budget"] == "25000.5000"
    assert c["share_of_wallet"] == "0.2500"
    assert c["preferred_channel"] == "sms"
    assert c["max_contacts_per_month"] == 4
    assert c["company_id"] is None
    assert c["merged_into"] is None
    row = await db.fetchrow("SELECT * FROM customers")
    assert str(row["declared_budget"]) == "25000.5000"
    assert str(row["share_of_wallet"]) == "0.2500"
    (event,) = await outbox_events(db)
    assert event["data"]["customer"]["declared_budget"] == "25000.5000"
    read = (await client.get(f"/api/v1/customers/{c['id']}")).json()
    assert read == c


async def test_attributes_are_optional(client):
    c = await _create(client)
    assert [c[k] for k in ATTRS] == [None] * len(ATTRS)


async def test_update_attributes_lists_changed_fields(client, db):
    c = await _create(client, **ATTRS)
    url = f"/api/v1/customers/{c['id']}"
    r = await client.patch(
        url,
        json={
            "declared_budget": 25000.5,
            "payment_terms": "prepaid",
            "share_of_wallet": None,
            "max_contacts_per_month": 0,
        },
        headers={**idem(), "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["payment_terms"] == "prepaid"
    assert r.json()["share_of_wallet"] is None
    assert r.json()["max_contacts_per_month"] == 0
    assert r.json()["version"] == 2
    (updated,) = [e for e in await outbox_events(db) if e["type"] == "customer.updated"]
    assert updated["data"]["changed"] == ["payment_terms", "share_of_wallet", "max_contacts_per_month"]


async def test_same_values_change_nothing(client, db):
    c = await _create(client, **ATTRS)
    before = await snapshot(db)
    r = await client.patch(
        f"/api/v1/customers/{c['id']}",
        json={"declared_budget": "25000.50", "share_of_wallet": "0.2500", "preferred_channel": "sms"},
        headers={**idem(), "If-Match": '"1"'},
    )
    assert r.status_code == 200
    assert r.json()["version"] == 1
    after = await snapshot(db)
    assert after["customers"] == before["customers"]
    assert after["outbox_messages"] == before["outbox_messages"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("payment_terms", "later"),
        ("brand_contribution", "celebrity"),
        ("declared_budget", "-1"),
        ("declared_budget", "abc"),
        ("declared_budget", "1.23456"),
        ("share_of_wallet", "1.5"),
        ("share_of_wallet", -0.1),
        ("preferred_channel", "fax"),
        ("max_contacts_per_month", -1),
        ("max_contacts_per_month", 40000),
        ("merged_into", "8b6f7c4e-1d8a-4c1e-9a7e-2b4a3f5d6c7b"),
    ],
)
async def test_bad_attribute_names_field_and_changes_nothing(client, db, field, value):
    c = await _create(client)
    before = await snapshot(db)
    created = await client.post("/api/v1/customers", json={"first_name": "Bo", field: value}, headers=idem())
    assert created.status_code == 422
    assert any(e.get("pointer") == f"#/{field}" for e in created.json()["errors"]), created.json()
    updated = await client.patch(
        f"/api/v1/customers/{c['id']}", json={field: value}, headers={**idem(), "If-Match": '"1"'}
    )
    assert updated.status_code == 422
    assert any(e.get("pointer") == f"#/{field}" for e in updated.json()["errors"]), updated.json()
    assert await snapshot(db) == before


async def test_filter_by_payment_terms(client):
    cash = await _create(client, payment_terms="cash")
    await _create(client, payment_terms="on_account")
    await _create(client)
    r = await client.get("/api/v1/customers", params={"payment_terms": "cash"})
    assert [c["id"] for c in r.json()["items"]] == [cash["id"]]
    bad = await client.get("/api/v1/customers", params={"payment_terms": "later"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["parameter"] == "payment_terms"
