import uuid


async def test_push_order_creates_customer(client, db):
    body = {
        "external_id": "SO-1",
        "customer": {
            "external_id": "C-1",
            "first_name": "Ana",
            "last_name": "Ruiz",
            "email": "Ana@Example.com",
        },
        "ordered_at": "2026-11-20T10:15:00Z",
        "currency": "EUR",
        "amount": "59.90",
        "lines": [{"sku": "TEA", "quantity": "2", "unit_price": "29.95"}],
    }
    r = await client.post("/api/v1/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 201, r.text
    assert r.json()["amount"] == "59.9000"
    assert await db.fetchval("SELECT count(*) FROM orders") == 1
    assert await db.fetchval("SELECT email FROM customers") == "ana@example.com"
