"""Idempotency keys belong to one principal, by kind and id: a user whose JWT subject equals a partner's
client id does not get that partner's stored responses replayed."""

from crm_shared.testing import partner_headers, user_headers


async def test_same_key_and_body_from_a_user_named_like_a_partner_is_a_new_request(client, db):
    body = {
        "first_name": "Ana",
        "email": "ana@example.com",
        "external_refs": [{"partner": "shop-1", "external_id": "C1"}],
    }
    shop = partner_headers("shop-1", "customers:write", "customers:read", "pii:read")
    namesake = user_headers("shop-1", "customers:write", "customers:read")
    first = await client.post("/api/v1/customers", json=body, headers={**shop, "Idempotency-Key": "k-1"})
    again = await client.post("/api/v1/customers", json=body, headers={**shop, "Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    other = await client.post("/api/v1/customers", json=body, headers={**namesake, "Idempotency-Key": "k-1"})
    assert other.status_code == 409  # a new request: the reference is now taken (a replay would be 201)
    assert "idempotent-replayed" not in other.headers
    # The partner's record is keyed by kind and id; the failed request left no record of its own.
    keys = await db.fetch("SELECT client_id FROM idempotency_keys WHERE key = 'k-1'")
    assert [r["client_id"] for r in keys] == ["partner:shop-1"]
