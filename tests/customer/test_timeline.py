"""The customer timeline: orders, complaints, interactions and consent records merged newest first."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from .helpers import idem, order


@pytest.fixture
async def client(api):
    """These are staff features (partners may not use them): the tests call as a staff user."""
    return api


T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


async def _customer(client, first="Ana"):
    r = await client.post("/api/v1/customers", json={"first_name": first}, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _order(client, cid, ext, at):
    body = order(ext, ordered_at=at.isoformat(), customer_id=cid)
    del body["customer"]
    r = await client.post("/api/v1/orders", json=body, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _complaint(db, cid, at, subject="Late delivery"):
    return await db.fetchval(
        """
        INSERT INTO complaints (customer_id, category_key, severity, channel, subject, opened_at, due_at)
        VALUES ($1, 'delivery', 'high', 'phone', $2, $3::timestamptz, $3::timestamptz + interval '1 day') RETURNING id
        """,
        uuid.UUID(cid),
        subject,
        at,
    )


async def _history(client, db, cid):
    """One entry of every kind, at known times (the consent record's time is set afterwards)."""
    o1 = await _order(client, cid, "SO-1", T0)
    o2 = await _order(client, cid, "SO-2", T0 + timedelta(days=1))
    o3 = await _order(client, cid, "SO-3", T0 + timedelta(days=2))
    assert (
        await client.post(f"/api/v1/orders/{o2}/cancel", json={"reason": "changed mind"}, headers=idem())
    ).is_success
    assert (await client.post(f"/api/v1/orders/{o3}/refund", json={"amount": "10"}, headers=idem())).is_success
    await db.execute("UPDATE orders SET cancelled_at = $2 WHERE id = $1", uuid.UUID(o2), T0 + timedelta(days=3))
    await db.execute("UPDATE orders SET updated_at = $2 WHERE id = $1", uuid.UUID(o3), T0 + timedelta(days=4))
    complaint = await _complaint(db, cid, T0 + timedelta(days=5))
    await db.execute(
        """
        INSERT INTO complaint_status_changes (complaint_id, from_status, to_status, changed_at) VALUES
            ($1, NULL, 'open', $2), ($1, 'open', 'in_progress', $3), ($1, 'in_progress', 'resolved', $4)
        """,
        complaint,
        T0 + timedelta(days=5),
        T0 + timedelta(days=6),
        T0 + timedelta(days=8),
    )
    r = await client.post(
        f"/api/v1/customers/{cid}/interactions",
        json={
            "channel": "call",
            "direction": "outbound",
            "subject": "Apology",
            "occurred_at": (T0 + timedelta(days=7)).isoformat(),
        },
        headers=idem(),
    )
    assert r.status_code == 201
    await client.put(
        f"/api/v1/customers/{cid}/consents/email", json={"status": "opted_out", "source": "call centre"}, headers=idem()
    )
    await db.execute("UPDATE consent_records SET recorded_at = $1", T0 + timedelta(days=9))
    return o1, o2, o3, complaint


async def test_timeline_merges_every_kind_newest_first(client, db):
    cid = await _customer(client)
    other = await _customer(client, "Bo")
    await _order(client, other, "SO-X", T0 + timedelta(days=10))  # someone else's: not on this timeline
    o1, o2, _, complaint = await _history(client, db, cid)
    r = await client.get(f"/api/v1/customers/{cid}/timeline")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["kind"] for i in items] == [
        "consent_changed",
        "complaint_status_changed",
        "interaction",
        "complaint_status_changed",
        "complaint_opened",
        "order_refunded",
        "order_cancelled",
        "order_created",
        "order_created",
        "order_created",
    ]
    assert [datetime.fromisoformat(i["at"]) for i in items] == sorted(
        (datetime.fromisoformat(i["at"]) for i in items), reverse=True
    )
    by_kind = {i["kind"]: i for i in items}
    assert by_kind["order_cancelled"]["id"] == o2
    assert by_kind["order_cancelled"]["summary"] == "Order SO-2 cancelled: changed mind"
    assert by_kind["order_refunded"]["data"]["refunded_amount"] == "10.0000"
    assert by_kind["complaint_opened"]["data"]["complaint_id"] == str(complaint)
    assert by_kind["interaction"]["summary"] == "Outbound call: Apology"
    assert by_kind["consent_changed"]["summary"] == "Opted out of email (call centre)"
    assert items[1]["data"]["to_status"] == "resolved"
    assert items[-1]["id"] == o1
    assert items[-1]["summary"] == "Order SO-1: 59.9000 EUR"


async def test_timeline_pagination_and_kinds_filter(client, db):
    cid = await _customer(client)
    await _history(client, db, cid)
    url = f"/api/v1/customers/{cid}/timeline"
    full = [(i["kind"], i["id"]) for i in (await client.get(url)).json()["items"]]
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(url, params=params)).json()
        seen += [(i["kind"], i["id"]) for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == full
    orders = (await client.get(url, params={"kinds": "order_created, order_cancelled"})).json()["items"]
    assert [i["kind"] for i in orders] == ["order_cancelled", "order_created", "order_created", "order_created"]
    first = (await client.get(url, params={"kinds": "order_created", "limit": 1})).json()
    reused = await client.get(url, params={"kinds": "interaction", "limit": 1, "cursor": first["next_cursor"]})
    assert reused.status_code == 400


async def test_same_instant_entries_are_paged_without_loss(client, db):
    cid = await _customer(client)
    for i in range(5):
        await _order(client, cid, f"SO-{i}", T0)
    await db.execute("UPDATE orders SET status = 'cancelled', cancelled_at = $1 WHERE external_id = 'SO-0'", T0)
    url = f"/api/v1/customers/{cid}/timeline"
    seen, cursor = [], None
    while True:
        page = (await client.get(url, params={"limit": 2, **({"cursor": cursor} if cursor else {})})).json()
        seen += [(i["kind"], i["id"]) for i in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert len(seen) == len(set(seen)) == 6


async def test_bad_kinds_and_unknown_customer(client):
    cid = await _customer(client)
    bad = await client.get(f"/api/v1/customers/{cid}/timeline", params={"kinds": "order_created,gossip"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["parameter"] == "kinds"
    assert "gossip" in bad.json()["detail"]
    empty = await client.get(f"/api/v1/customers/{cid}/timeline", params={"kinds": " , "})
    assert empty.status_code == 422  # a list naming no kind; leave the parameter out for every kind
    assert empty.json()["errors"][0]["parameter"] == "kinds"
    assert (await client.get(f"/api/v1/customers/{uuid.uuid4()}/timeline")).status_code == 404
    assert (await client.get(f"/api/v1/customers/{cid}/timeline", params={"limit": 0})).status_code == 422
