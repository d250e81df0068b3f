"""`{prefix}/delivery`: after a push, a client polls until every subscriber has applied what it pushed."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from crm_customer.main import create_app
from crm_shared.settings import Subscription
from crm_shared.testing import app_client, partner_headers, user_headers

PARTNER = partner_headers("shop-1", "customers:read", "customers:write", "orders:write")
NO_SCOPE = user_headers("u-orders", "orders:read")


@pytest.fixture
async def api(settings):
    # Nothing listens at these URLs and the relay is off: what is published stays pending until the test
    # marks it delivered the way the relay does.
    subscribers = [
        Subscription(name="scoring", url="http://127.0.0.1:9/internal/events", types=["order.*"]),
        Subscription(name="churn", url="http://127.0.0.1:9/internal/events", types=["order.*"]),
    ]
    app = create_app(settings.model_copy(update={"subscribers": subscribers, "outbox_enabled": False}))
    async with app_client(app, headers=PARTNER) as client:
        yield client


async def push(api: httpx.AsyncClient, n: int) -> None:
    orders = [
        {
            "external_id": f"o-{uuid.uuid4()}",
            "customer": {"external_id": f"c-{i}", "first_name": "Ana", "last_name": f"Ruiz {i}"},
            "ordered_at": "2026-11-30T10:00:00Z",
            "currency": "EUR",
            "amount": "10.00",
        }
        for i in range(n)
    ]
    response = await api.post(
        "/api/v1/orders/batch", json={"orders": orders}, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == n, response.text


async def status(api: httpx.AsyncClient, **params: str) -> dict:
    response = await api.get("/api/v1/customers/delivery", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_caught_up_only_once_every_subscriber_applied_the_push(api, db):
    empty = await status(api)
    assert empty["caught_up"] is True
    assert [s["name"] for s in empty["subscribers"]] == ["churn", "scoring"]

    await push(api, 3)
    pushed_at = datetime.now(UTC)
    behind = await status(api, since=pushed_at.isoformat())
    assert behind["caught_up"] is False
    for s in behind["subscribers"]:
        assert s["pending_events"] == 6  # each order with the customer it created: one message of six events
        assert s["pending_messages"] >= 1
        assert not s["caught_up"]
        assert s["oldest_pending_at"] is not None
        assert s["oldest_pending_age_seconds"] >= 0
    # Judged before the push, nothing was owed yet.
    before = await status(api, since=(pushed_at - timedelta(hours=1)).isoformat())
    assert before["caught_up"] is True

    # Scoring takes the messages (what the relay records on a 2xx); churn has not yet.
    await db.execute("UPDATE outbox_messages SET pending = array_remove(pending, 'scoring')")
    half = {s["name"]: s for s in (await status(api))["subscribers"]}
    assert half["scoring"]["caught_up"]
    assert half["scoring"]["pending_events"] == 0
    assert not half["churn"]["caught_up"]

    await db.execute("UPDATE outbox_messages SET pending = '{}', delivered_at = now()")
    assert (await status(api, since=pushed_at.isoformat()))["caught_up"] is True


async def test_a_message_given_up_is_never_caught_up(api, db):
    await push(api, 1)
    await db.execute("UPDATE outbox_messages SET dead = true")
    body = await status(api)
    assert body["caught_up"] is False
    assert all(s["undeliverable_messages"] >= 1 and s["pending_messages"] == 0 for s in body["subscribers"])


async def test_needs_the_family_scope_and_refuses_a_bad_instant(settings, api):
    async with app_client(create_app(settings), headers=NO_SCOPE) as other:
        assert (await other.get("/api/v1/customers/delivery")).status_code == 403
    bad = await api.get("/api/v1/customers/delivery", params={"since": "yesterday"})
    assert bad.status_code == 422
    assert any(e.get("parameter") == "since" for e in bad.json()["errors"]), bad.text
