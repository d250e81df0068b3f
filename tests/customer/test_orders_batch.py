"""Batches: per-row answers, one bad row never sinks the batch, set-based writes, concurrency."""

import asyncio
import json

from crm_customer.orders.schemas import MAX_BATCH

from .helpers import idem, order, outbox_events, snapshot

JSON = {"content-type": "application/json"}


async def test_batch_answers_each_row(client, db):
    await client.post("/api/v1/orders", json=order("OLD-1"), headers=idem())
    rows = [
        order("B-1", "C-1"),
        order("B-2", "C-2", amount="-5"),  # rejected: negative
        order("B-3", "C-404", details=False),  # rejected: unknown customer without details
        order("OLD-1"),  # duplicate of an earlier push
        order("B-1", "C-1"),  # repeats row 0 within this batch
        {"external_id": "B-6", "amount": 3},  # rejected: missing fields
        order("B-7", "C-1", details=False),  # known now (created by row 0 in this batch)
        "not an object",
    ]
    r = await client.post("/api/v1/orders/batch", json={"orders": rows}, headers=idem())
    assert r.status_code == 200, r.text
    out = r.json()
    statuses = [row["status"] for row in out["results"]]
    assert statuses == ["created", "rejected", "rejected", "duplicate", "rejected", "rejected", "created", "rejected"]
    assert (out["created"], out["duplicates"], out["rejected"]) == (2, 1, 5)
    assert [row["index"] for row in out["results"]] == list(range(len(rows)))
    res = out["results"]
    assert res[1]["errors"][0]["pointer"] == "#/orders/1/amount"
    assert res[2]["errors"][0]["pointer"] == "#/orders/2/customer"
    assert res[4]["errors"][0]["pointer"] == "#/orders/4/external_id"
    assert "index 0" in res[4]["errors"][0]["detail"]
    assert res[5]["external_id"] == "B-6"
    assert "ordered_at" in res[5]["errors"][0]["detail"]
    assert res[7]["external_id"] is None
    old_id = await db.fetchval("SELECT id FROM orders WHERE external_id = 'OLD-1'")
    assert res[3]["order_id"] == str(old_id)
    stored = {r["external_id"]: str(r["id"]) for r in await db.fetch("SELECT external_id, id FROM orders")}
    assert set(stored) == {"OLD-1", "B-1", "B-7"}
    assert res[0]["order_id"] == stored["B-1"]
    assert res[6]["order_id"] == stored["B-7"]


async def test_batch_events_are_one_outbox_row(client, db):
    rows = [order(f"E-{i}", f"C-{i % 7}") for i in range(300)]
    r = await client.post("/api/v1/orders/batch", json={"orders": rows}, headers=idem())
    assert r.json()["created"] == 300
    assert await db.fetchval("SELECT count(*) FROM outbox_messages") == 1
    events = await outbox_events(db)
    assert sum(e["type"] == "order.created" for e in events) == 300
    assert sum(e["type"] == "customer.created" for e in events) == 7
    assert len({e["id"] for e in events}) == len(events)
    by_order = {e["data"]["order_id"]: e for e in events if e["type"] == "order.created"}
    for rec in await db.fetch("SELECT id, customer_id, external_id FROM orders"):
        event = by_order[str(rec["id"])]
        assert event["data"]["customer_id"] == str(rec["customer_id"]) == event["subject"]
        assert event["data"]["external_id"] == rec["external_id"]


async def test_batch_replay_and_conflicting_reuse(client, db):
    headers = idem()
    body = {"orders": [order("R-1"), order("R-2")]}
    first = await client.post("/api/v1/orders/batch", json=body, headers=headers)
    again = await client.post("/api/v1/orders/batch", json=body, headers=headers)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    other = await client.post("/api/v1/orders/batch", json={"orders": [order("R-3")]}, headers=headers)
    assert other.status_code == 422
    assert await db.fetchval("SELECT count(*) FROM orders") == 2


async def test_oversized_batch_is_rejected_whole(client, db):
    before = await snapshot(db)
    rows = [order(f"X-{i}") for i in range(MAX_BATCH + 1)]
    r = await client.post("/api/v1/orders/batch", json={"orders": rows}, headers=idem())
    assert r.status_code == 413
    assert r.json()["errors"][0]["pointer"] == "#/orders"
    assert await snapshot(db) == before


async def test_full_size_batch_is_accepted(client, db):
    rows = [order(f"F-{i:05d}", f"C-{i % 1000}") for i in range(MAX_BATCH)]
    r = await client.post("/api/v1/orders/batch", json={"orders": rows}, headers=idem())
    assert r.status_code == 200
    assert r.json()["created"] == MAX_BATCH
    assert await db.fetchval("SELECT count(*) FROM orders") == MAX_BATCH
    assert await db.fetchval("SELECT count(*) FROM customers") == 1000


async def test_bad_envelopes_change_nothing(client, db):
    before = await snapshot(db)
    for body in (b"[]", b'{"orders": []}', b'{"orders": 5}', b'{"rows": []}', b"{", b""):
        r = await client.post("/api/v1/orders/batch", content=body, headers={**idem(), **JSON})
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert await snapshot(db) == before


async def test_concurrent_overlapping_batches_store_each_order_once(client, db):
    # Four batches over the same 400 orders in different orders: no deadlock, no duplicate.
    base = [order(f"P-{i:03d}", f"C-{i % 50}") for i in range(400)]
    batches = [base, base[::-1], base[200:] + base[:200], base[100:300]]
    responses = await asyncio.gather(
        *(client.post("/api/v1/orders/batch", json={"orders": b}, headers=idem()) for b in batches)
    )
    assert all(r.status_code == 200 for r in responses), [r.text[:200] for r in responses]
    assert sum(r.json()["created"] for r in responses) == 400
    assert await db.fetchval("SELECT count(*) FROM orders") == 400
    assert await db.fetchval("SELECT count(*) FROM customers") == 50
    ids = {row["external_id"]: row["order_id"] for r in responses for row in r.json()["results"]}
    assert len(set(ids.values())) == 400
    events = await outbox_events(db)
    assert sum(e["type"] == "order.created" for e in events) == 400
    assert sum(e["type"] == "customer.created" for e in events) == 50


async def test_batch_response_is_valid_against_declared_schema(client):
    r = await client.post(
        "/api/v1/orders/batch", json={"orders": [order("S-1"), order("S-2", amount="x")]}, headers=idem()
    )
    from crm_customer.orders.schemas import BatchResult

    parsed = BatchResult.model_validate_json(r.content)
    assert parsed.results[1].errors
    assert parsed.results[1].errors[0].pointer == "#/orders/1/amount"
    assert json.loads(r.content)["results"][0]["order_id"]
