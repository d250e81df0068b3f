"""The inbox fan-out on real PostgreSQL: each event becomes one delivery per subscription that takes it
(types, filters, what its owner may receive), once even when the event is delivered again."""

import uuid
from typing import Any

import asyncpg
import msgspec

from crm_shared.testing import app_client
from crm_webhooks.config import Settings
from crm_webhooks.main import create_app
from tests.webhooks.conftest import ADMIN, INTEGRATION, PARTNER_HEADERS, event, publish, subscribe

CUSTOMER = str(uuid.uuid4())


def lifecycle(to_stage: str) -> dict[str, Any]:
    return event(
        "lifecycle.changed",
        customer_id=CUSTOMER,
        as_of="2026-11-30T00:00:00+00:00",
        cause="event",
        from_stage="maturity",
        to_stage=to_stage,
        reason="recency past the decline threshold",
    )


def order(partner: str) -> dict[str, Any]:
    return event(
        "order.created",
        source="/services/customer",
        order_id=str(uuid.uuid4()),
        customer_id=CUSTOMER,
        partner=partner,
        external_id="o-1",
        ordered_at="2026-11-30T10:00:00+00:00",
        currency="EUR",
        amount="12.50",
    )


def customer_updated() -> dict[str, Any]:
    customer = {
        "id": CUSTOMER,
        "kind": "individual",
        "display_name": "Ada Lovelace",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company_name": None,
        "email": "ada@example.com",
        "phone": "+441234567890",
        "address": None,
        "external_refs": [{"partner": "shop-1", "external_id": "c-1"}],
        "version": 2,
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-11-30T00:00:00+00:00",
    }
    return event("customer.updated", source="/services/customer", customer=customer, changed=["email"])


async def test_each_event_goes_to_the_subscriptions_that_take_it(settings: Settings, db: asyncpg.Connection) -> None:
    async with app_client(create_app(settings)) as client:
        decline = await subscribe(client, ADMIN, event_types=["lifecycle.changed"], filters={"to_stage": "decline"})
        one_of = await subscribe(
            client, ADMIN, event_types=["lifecycle.*"], filters={"to_stage": ["decline", "growth"]}
        )
        every = await subscribe(client, ADMIN, event_types=["*"])
        paused = await subscribe(client, ADMIN, event_types=["lifecycle.changed"])
        await client.post(
            f"/api/v1/webhooks/subscriptions/{paused['id']}/pause", headers={**ADMIN, "Idempotency-Key": "p"}
        )
        shop = await subscribe(client, PARTNER_HEADERS, event_types=["order.*"])
        integration = await subscribe(client, INTEGRATION, event_types=["customer.*", "order.created"])

        events = [lifecycle("decline"), lifecycle("growth"), lifecycle("churned"), order("shop-1"), order("shop-2")]
        events.append(customer_updated())
        await publish(client, *events)
        await publish(client, *events)  # delivered again by a relay: applied once

    rows = await db.fetch(
        "SELECT d.subscription_id::text AS s, d.event_id::text AS e, d.event_type, m.body "
        "FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.event_id"
    )
    got: dict[str, list[str]] = {}
    for row in rows:
        got.setdefault(row["s"], []).append(row["e"])
    ids = [e["id"] for e in events]
    decline_, growth, churned, shop1, shop2, _pii = ids
    assert sorted(got[decline["id"]]) == [decline_]
    assert sorted(got[one_of["id"]]) == sorted([decline_, growth])
    assert sorted(got[every["id"]]) == sorted(ids)  # the admin holds pii:read
    assert sorted(got[paused["id"]]) == sorted([decline_, growth, churned])  # queued, held until resumed
    assert got[shop["id"]] == [shop1]  # a partner receives only the orders that name it
    assert sorted(got[integration["id"]]) == sorted([shop1, shop2])  # no pii:read: no customer snapshots
    assert len(rows) == 1 + 2 + 6 + 3 + 1 + 2
    assert await db.fetchval("SELECT count(*) FROM webhook_messages") == len(events)  # each body stored once

    sent = next(r for r in rows if r["s"] == shop["id"])
    body = msgspec.json.decode(sent["body"])
    assert body["type"] == "order.created"
    assert body["event_id"] == shop1
    assert body["timestamp"] == events[3]["time"]
    assert body["data"] == events[3]["data"]


async def test_no_subscription_no_delivery_and_unknown_types_acknowledged(
    settings: Settings, db: asyncpg.Connection
) -> None:
    async with app_client(create_app(settings)) as client:
        await publish(client, lifecycle("decline"))
        await subscribe(client, ADMIN, event_types=["*"])
        answer = await publish(client, event("tag.added", customer_id=CUSTOMER, tag_key="vip"))
    assert answer.json() == {"received": 1, "applied": 1}
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries") == 0


async def test_the_inbox_refuses_unsigned_deliveries(settings: Settings) -> None:
    async with app_client(create_app(settings)) as client:
        r = await client.post("/internal/events", content=msgspec.json.encode([lifecycle("decline")]))
    assert r.status_code == 401
