"""Pushing single orders: creation, customer resolution, validation, duplicates, idempotency."""

import asyncio
from decimal import Decimal

import pytest

from .helpers import idem, order, outbox_events, snapshot


async def test_order_creates_customer_from_details_and_emits_events(client, db):
    r = await client.post("/api/v1/orders", json=order(ref="C-9"), headers=idem())
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["amount"] == "59.9000"
    assert body["status"] == "created"
    assert body["partner"] == "shop-1"
    assert r.headers["location"] == f"/api/v1/orders/{body['id']}"
    customer = await db.fetchrow(
        "SELECT c.* FROM customers c JOIN customer_refs r ON r.customer_id = c.id "
        "WHERE r.partner = 'shop-1' AND r.external_id = 'C-9'"
    )
    assert customer["display_name"] == "Ana Ruiz"
    assert str(customer["id"]) == body["customer_id"]
    events = await outbox_events(db)
    assert [e["type"] for e in events] == ["customer.created", "order.created"]
    created = events[1]
    assert created["subject"] == body["customer_id"]
    assert created["data"]["order_id"] == body["id"]
    assert created["data"]["amount"] == "59.90"
    assert created["data"]["lines"][0]["product_line"] == "tea"


async def test_known_reference_reuses_customer(client, db):
    await client.post("/api/v1/orders", json=order("SO-1", "C-1"), headers=idem())
    r = await client.post("/api/v1/orders", json=order("SO-2", "C-1", details=False), headers=idem())
    assert r.status_code == 201, r.text
    assert await db.fetchval("SELECT count(*) FROM customers") == 1
    assert await db.fetchval("SELECT count(DISTINCT customer_id) FROM orders") == 1


async def test_order_by_customer_id(client, db):
    first = (await client.post("/api/v1/orders", json=order("SO-1"), headers=idem())).json()
    body = order("SO-2")
    del body["customer"]
    body["customer_id"] = first["customer_id"]
    r = await client.post("/api/v1/orders", json=body, headers=idem())
    assert r.status_code == 201, r.text
    assert r.json()["customer_id"] == first["customer_id"]


async def test_unknown_reference_without_details_is_rejected_and_changes_nothing(client, db):
    before = await snapshot(db)
    r = await client.post("/api/v1/orders", json=order(details=False), headers=idem())
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 422
    assert problem["errors"][0]["pointer"] == "#/customer"
    assert "unknown customer reference 'C-1'" in problem["errors"][0]["detail"]
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    ("change", "pointer", "words"),
    [
        ({"amount": "-1"}, "#/amount", "negative"),
        ({"amount": "NaN"}, "#/amount", "finite"),
        ({"amount": "1.23456"}, "#/amount", "decimal places"),
        ({"amount": "abc"}, "#/amount", "decimal"),
        ({"currency": "euro"}, "#/currency", "matching regex"),
        ({"ordered_at": "2026-11-20T10:15:00"}, "#/ordered_at", "timezone"),
        ({"ordered_at": "2099-01-01T00:00:00Z"}, "#/ordered_at", "future"),
        ({"payment_method": "barter"}, "#/payment_method", "Invalid enum value"),
        ({"lines": [{"sku": "X", "quantity": "0", "unit_price": "1"}]}, "#/lines/0/quantity", "positive"),
        ({"lines": [{"sku": "X", "quantity": "1"}]}, "#/lines/0", "missing required field `unit_price`"),
        ({"surprise": 1}, "#", "unknown field `surprise`"),
        ({"customer_id": "8b6f7c4e-1d8a-4c1e-9a7e-2b4a3f5d6c7b"}, "#/customer", "exactly one"),
        ({"customer": {"external_id": "C-1", "first_name": "A", "email": "nope"}}, "#/customer/email", "email"),
    ],
)
async def test_bad_order_names_field_and_changes_nothing(client, db, change, pointer, words):
    before = await snapshot(db)
    r = await client.post("/api/v1/orders", json=order(**change), headers=idem())
    assert r.status_code == 422, r.text
    problem = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert any(e["pointer"] == pointer and words in e["detail"] for e in problem["errors"]), problem
    assert await snapshot(db) == before


async def test_unknown_customer_id_is_rejected(client, db):
    body = order()
    del body["customer"]
    body["customer_id"] = "8b6f7c4e-1d8a-4c1e-9a7e-2b4a3f5d6c7b"
    before = await snapshot(db)
    r = await client.post("/api/v1/orders", json=body, headers=idem())
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "#/customer_id"
    assert await snapshot(db) == before


async def test_malformed_json_is_rejected(client, db):
    before = await snapshot(db)
    r = await client.post(
        "/api/v1/orders", content=b'{"external_id": ', headers={**idem(), "content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["status"] == 422
    assert await snapshot(db) == before


async def test_second_push_of_same_order_conflicts(client, db):
    first = await client.post("/api/v1/orders", json=order(), headers=idem())
    again = await client.post("/api/v1/orders", json=order(amount="10"), headers=idem())
    assert again.status_code == 409
    assert again.json()["order_id"] == first.json()["id"]
    assert await db.fetchval("SELECT count(*) FROM orders") == 1
    assert await db.fetchval("SELECT amount FROM orders") == Decimal("59.90")  # the first push stands


async def test_same_key_same_body_replays(client, db):
    headers = idem()
    first = await client.post("/api/v1/orders", json=order(), headers=headers)
    replay = await client.post("/api/v1/orders", json=order(), headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert replay.json() == first.json()
    assert await db.fetchval("SELECT count(*) FROM orders") == 1
    assert await db.fetchval("SELECT count(*) FROM outbox_messages") == 1


async def test_same_key_other_body_is_rejected(client, db):
    headers = idem()
    await client.post("/api/v1/orders", json=order(), headers=headers)
    before = await snapshot(db)
    r = await client.post("/api/v1/orders", json=order("SO-2"), headers=headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["header"] == "Idempotency-Key"
    assert await snapshot(db) == before


async def test_key_is_scoped_per_client(client, db):
    from crm_shared.testing import partner_headers

    headers = idem()
    await client.post("/api/v1/orders", json=order(), headers=headers)
    other = {**partner_headers("shop-2", "orders:write", "orders:read"), **headers}
    r = await client.post("/api/v1/orders", json=order(), headers=other)
    assert r.status_code == 201
    assert "idempotent-replayed" not in r.headers
    assert await db.fetchval("SELECT count(*) FROM orders") == 2


@pytest.mark.parametrize("key", [None, "k" * 256])
async def test_missing_or_long_key_is_400(client, db, key):
    before = await snapshot(db)
    headers = {"Idempotency-Key": key} if key else {}
    r = await client.post("/api/v1/orders", json=order(), headers=headers)
    assert r.status_code == 400
    assert r.json()["errors"][0]["header"] == "Idempotency-Key"
    assert await snapshot(db) == before


async def test_failed_request_does_not_keep_the_key(client, db):
    headers = idem()
    bad = await client.post("/api/v1/orders", json=order(details=False), headers=headers)
    assert bad.status_code == 422
    good = await client.post(
        "/api/v1/orders",
        json=order(details=False, customer={"external_id": "C-1", "first_name": "Ana"}),
        headers=headers,
    )
    assert good.status_code == 201, good.text


async def test_concurrent_duplicates_with_one_key_create_one_order(client, db):
    headers = idem()
    responses = await asyncio.gather(*(client.post("/api/v1/orders", json=order(), headers=headers) for _ in range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}
    created = [r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers]
    assert len(created) == 1
    assert all(r.json()["id"] == created[0].json()["id"] for r in responses if r.status_code == 201)
    assert await db.fetchval("SELECT count(*) FROM orders") == 1


async def test_concurrent_pushes_of_one_order_with_different_keys(client, db):
    responses = await asyncio.gather(*(client.post("/api/v1/orders", json=order(), headers=idem()) for _ in range(8)))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    assert await db.fetchval("SELECT count(*) FROM orders") == 1
    assert await db.fetchval("SELECT count(*) FROM customers") == 1


async def test_scope_is_required(client, db):
    from crm_shared.testing import partner_headers

    r = await client.post(
        "/api/v1/orders", json=order(), headers={**idem(), **partner_headers("shop-1", "orders:read")}
    )
    assert r.status_code == 403
    assert "orders:write" in r.json()["detail"]


async def test_a_batch_sent_to_the_one_order_path_is_pointed_to_the_batch_path(client, db):
    before = await snapshot(db)
    r = await client.post("/api/v1/orders", json={"orders": [{"external_id": "o-1"}]}, headers=idem())
    assert r.status_code == 422
    assert "/api/v1/orders/batch" in r.json()["detail"]
    assert r.json()["errors"][0]["pointer"] == "#"
    assert await snapshot(db) == before
