"""Cancel and refund, reads, partner isolation, listing and the NDJSON export."""

import json
from decimal import Decimal

import pytest

from crm_shared.testing import partner_headers, user_headers

from .helpers import idem, order, outbox_events, snapshot


async def _push(client, ext="SO-1", **over):
    r = await client.post("/api/v1/orders", json=order(ext, **over), headers=idem())
    assert r.status_code == 201, r.text
    return r.json()


async def test_cancel_then_cancel_again_conflicts(client, db):
    o = await _push(client)
    r = await client.post(f"/api/v1/orders/{o['id']}/cancel", json={"reason": "customer changed mind"}, headers=idem())
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert r.json()["cancelled_at"]
    before = await snapshot(db)
    again = await client.post(f"/api/v1/orders/{o['id']}/cancel", json={}, headers=idem())
    assert again.status_code == 409
    assert "cancelled" in again.json()["detail"]
    assert await snapshot(db) == before
    cancelled = [e for e in await outbox_events(db) if e["type"] == "order.cancelled"]
    assert len(cancelled) == 1
    assert cancelled[0]["data"]["order_id"] == o["id"]
    assert cancelled[0]["data"]["reason"] == "customer changed mind"


async def test_partial_then_full_refund(client, db):
    o = await _push(client, amount="100.00")
    r = await client.post(f"/api/v1/orders/{o['id']}/refund", json={"amount": "30"}, headers=idem())
    assert r.json()["status"] == "partially_refunded"
    assert r.json()["refunded_amount"] == "30.0000"
    over = await client.post(f"/api/v1/orders/{o['id']}/refund", json={"amount": "70.01"}, headers=idem())
    assert over.status_code == 422
    assert over.json()["errors"][0]["pointer"] == "#/amount"
    rest = await client.post(f"/api/v1/orders/{o['id']}/refund", json={}, headers=idem())
    assert rest.json()["status"] == "refunded"
    assert await db.fetchval("SELECT refunded_amount FROM orders") == Decimal("100")
    refunds = [e["data"]["refunded_total"] for e in await outbox_events(db) if e["type"] == "order.refunded"]
    assert refunds == ["30.0000", "100.0000"]
    no_more = await client.post(f"/api/v1/orders/{o['id']}/cancel", json={}, headers=idem())
    assert no_more.status_code == 409


@pytest.mark.parametrize("body", [{"amount": "0"}, {"amount": "-3"}, {"amount": "abc"}, {"reason": "x" * 501}])
async def test_bad_refund_changes_nothing(client, db, body):
    o = await _push(client)
    before = await snapshot(db)
    r = await client.post(f"/api/v1/orders/{o['id']}/refund", json=body, headers=idem())
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"].startswith("#/")
    assert await snapshot(db) == before


async def test_unknown_order_is_404_problem(client):
    r = await client.get("/api/v1/orders/8b6f7c4e-1d8a-4c1e-9a7e-2b4a3f5d6c7b")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    bad = await client.get("/api/v1/orders/not-a-uuid")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["parameter"] == "order_id"


async def test_partners_see_only_their_orders(client):
    o = await _push(client)
    other = partner_headers("shop-2", "orders:read", "orders:write")
    assert (await client.get(f"/api/v1/orders/{o['id']}", headers=other)).status_code == 404
    assert (
        await client.post(f"/api/v1/orders/{o['id']}/cancel", json={}, headers={**other, **idem()})
    ).status_code == 404
    listed = await client.get("/api/v1/orders", headers=other)
    assert listed.json()["items"] == []
    staff = user_headers("u1", "orders:read")
    assert (await client.get(f"/api/v1/orders/{o['id']}", headers=staff)).status_code == 200
    by_ext = await client.get("/api/v1/orders/by-external/SO-1")
    assert by_ext.json()["id"] == o["id"]


async def test_list_pages_through_everything_with_cursor(client):
    rows = [order(f"L-{i:02d}", ordered_at=f"2026-10-{i + 1:02d}T08:00:00Z") for i in range(25)]
    await client.post("/api/v1/orders/batch", json={"orders": rows}, headers=idem())
    seen, cursor = [], None
    while True:
        params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/orders", params=params)).json()
        seen += [o["external_id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"L-{i:02d}" for i in reversed(range(25))]
    asc = (await client.get("/api/v1/orders", params={"sort": "+ordered_at", "limit": 3})).json()
    assert [o["external_id"] for o in asc["items"]] == ["L-00", "L-01", "L-02"]
    window = (
        await client.get(
            "/api/v1/orders", params={"ordered_from": "2026-10-05T00:00:00Z", "ordered_to": "2026-10-08T00:00:00Z"}
        )
    ).json()
    assert [o["external_id"] for o in window["items"]] == ["L-06", "L-05", "L-04"]


async def test_cursor_tampering_and_reuse_with_other_filters(client):
    rows = [order(f"T-{i}") for i in range(5)]
    await client.post("/api/v1/orders/batch", json={"orders": rows}, headers=idem())
    cursor = (await client.get("/api/v1/orders", params={"limit": 2})).json()["next_cursor"]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    for params in (
        {"cursor": tampered, "limit": 2},
        {"cursor": cursor, "limit": 2, "status": "cancelled"},
        {"cursor": "garbage!", "limit": 2},
    ):
        r = await client.get("/api/v1/orders", params=params)
        assert r.status_code == 400, params
        assert r.json()["errors"][0]["parameter"] == "cursor"


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"status": "lost"}, {"sort": "amount"}])
async def test_bad_list_parameters(client, params):
    r = await client.get("/api/v1/orders", params=params)
    assert r.status_code in (400, 422)
    assert r.json()["errors"][0]["parameter"] in params


async def test_export_streams_every_order_and_resumes(client, db, settings):
    rows = [order(f"X-{i:04d}", f"C-{i % 3}") for i in range(1200)]
    for start in range(0, 1200, 400):
        await client.post("/api/v1/orders/batch", json={"orders": rows[start : start + 400]}, headers=idem())
    some = (await client.get("/api/v1/orders", params={"limit": 1})).json()["items"][0]
    await client.post(f"/api/v1/orders/{some['id']}/cancel", json={}, headers=idem())
    r = await client.get("/api/v1/orders/export")
    assert r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert len(lines) == 1200
    assert [x["seq"] for x in lines] == sorted(x["seq"] for x in lines)
    assert {x["external_id"] for x in lines} == {f"X-{i:04d}" for i in range(1200)}
    cancelled = [x for x in lines if x["status"] == "cancelled"]
    assert [x["id"] for x in cancelled] == [some["id"]]
    first = lines[0]
    assert first["amount"] == "59.9000"
    assert first["ordered_at"] == "2026-11-20T10:15:00.000000Z"
    assert first["lines"][0]["sku"] == "TEA-01"
    rest = await client.get("/api/v1/orders/export", params={"after": lines[999]["seq"]})
    assert [json.loads(x)["seq"] for x in rest.text.splitlines()] == [x["seq"] for x in lines[1000:]]
