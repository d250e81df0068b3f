"""The customer's time zone (an IANA name campaigns' quiet hours follow): set on create, PATCH and a
partner's pushed order, checked against the tz database, carried by customer events, kept by a merge."""

import msgspec
import pytest

from crm_shared.schemas.events import CustomerChangedData

from .helpers import idem, order, outbox_events, snapshot


async def _create(api, **body):
    r = await api.post("/api/v1/customers", json={"first_name": "Ana", **body}, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_read_and_event_carry_the_zone(api, db):
    c = await _create(api, time_zone="Asia/Tokyo")
    assert c["time_zone"] == "Asia/Tokyo"
    assert await db.fetchval("SELECT time_zone FROM customers") == "Asia/Tokyo"
    assert (await api.get(f"/api/v1/customers/{c['id']}")).json()["time_zone"] == "Asia/Tokyo"
    (event,) = await outbox_events(db)
    assert msgspec.convert(event["data"], CustomerChangedData).customer.time_zone == "Asia/Tokyo"


async def test_zone_is_optional_and_old_events_still_decode(api, db):
    c = await _create(api)
    assert c["time_zone"] is None
    (event,) = await outbox_events(db)
    del event["data"]["customer"]["time_zone"]  # as events written before the field existed
    assert msgspec.convert(event["data"], CustomerChangedData).customer.time_zone is None


async def test_patch_sets_and_clears_the_zone_under_if_match(api, db):
    c = await _create(api)
    url = f"/api/v1/customers/{c['id']}"
    stale = await api.patch(url, json={"time_zone": "Europe/Madrid"}, headers={**idem(), "If-Match": '"7"'})
    assert stale.status_code == 412
    r = await api.patch(url, json={"time_zone": "Europe/Madrid"}, headers={**idem(), "If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert (r.json()["time_zone"], r.json()["version"]) == ("Europe/Madrid", 2)
    updated = (await outbox_events(db))[-1]
    assert updated["type"] == "customer.updated"
    assert updated["data"]["changed"] == ["time_zone"]
    cleared = await api.patch(url, json={"time_zone": None}, headers={**idem(), "If-Match": '"2"'})
    assert cleared.json()["time_zone"] is None
    assert await db.fetchval("SELECT time_zone FROM customers") is None


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "asia/tokyo", "../../etc/passwd", "localtime", "", "X" * 65])
async def test_unknown_zone_is_422_naming_the_field_and_changes_nothing(api, db, zone):
    c = await _create(api, time_zone="UTC")
    before = await snapshot(db)
    for r in (
        await api.post("/api/v1/customers", json={"first_name": "Bo", "time_zone": zone}, headers=idem()),
        await api.patch(
            f"/api/v1/customers/{c['id']}", json={"time_zone": zone}, headers={**idem(), "If-Match": '"1"'}
        ),
    ):
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [e["pointer"] for e in r.json()["errors"]] == ["#/time_zone"]
    assert await snapshot(db) == before


async def test_pushed_order_creates_the_customer_with_its_zone(client, db):
    body = order(ref="C-9")
    body["customer"]["time_zone"] = "America/New_York"
    r = await client.post("/api/v1/orders", json=body, headers=idem())
    assert r.status_code == 201, r.text
    assert await db.fetchval("SELECT time_zone FROM customers") == "America/New_York"
    created = (await outbox_events(db))[0]
    assert created["type"] == "customer.created"
    assert msgspec.convert(created["data"], CustomerChangedData).customer.time_zone == "America/New_York"


async def test_pushed_order_with_an_unknown_zone_is_rejected(client, db):
    single = order("SO-1", "C-1")
    single["customer"]["time_zone"] = "Europe/Atlantis"
    r = await client.post("/api/v1/orders", json=single, headers=idem())
    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == ["#/customer/time_zone"]
    good, bad = order("B-1", "C-1"), order("B-2", "C-2")
    good["customer"]["time_zone"], bad["customer"]["time_zone"] = "Europe/Lisbon", "Europe/Atlantis"
    batch = await client.post("/api/v1/orders/batch", json={"orders": [good, bad]}, headers=idem())
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert [row["status"] for row in results] == ["created", "rejected"]
    assert results[1]["errors"][0]["pointer"] == "#/orders/1/customer/time_zone"
    assert await db.fetchval("SELECT array_agg(time_zone) FROM customers") == ["Europe/Lisbon"]


async def test_merge_fills_an_empty_zone_from_the_merged_customer(api, db):
    survivor = await _create(api)
    merged = await _create(api, first_name="Ana", time_zone="Asia/Tokyo")
    r = await api.post(
        f"/api/v1/customers/{survivor['id']}/merge",
        json={"merged_id": merged["id"]},
        headers={**idem(), "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert await db.fetchval("SELECT time_zone FROM customers WHERE id = $1", survivor["id"]) == "Asia/Tokyo"
