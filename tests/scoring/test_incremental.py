"""Incremental scoring from the customer service's events: each event applied once, in any order, and the
touched customers rescored in the same transaction, with stage and score history and outbox events."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec

from crm_shared.schemas.events import EVENT_TYPES
from crm_shared.schemas.scores import ScoreChangedData
from tests.scoring.events import customer_event, deliver, merged, order_adjusted, order_created

NOW = datetime.now(UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


async def _row(db, customer_id):
    return await db.fetchrow("SELECT * FROM customer_scores WHERE customer_id = $1", customer_id)


async def _outbox(db) -> list[dict]:
    rows = await db.fetch("SELECT events FROM outbox_messages ORDER BY id")
    return [e for r in rows for e in msgspec.json.decode(r["events"])]


async def test_orders_build_the_summary_and_scores(api, db):
    c = uuid.uuid4()
    await deliver(
        api,
        order_created(c, ago(200), "100.00", product_lines=("coffee", "tea")),
        order_created(c, ago(200.01), "50.00"),  # same day: one purchase day, two orders
        order_created(c, ago(30), "40.00", product_lines=("coffee",)),
    )
    row = await _row(db, c)
    assert row["purchase_days"] == 2
    assert row["order_count"] == 3
    assert row["total_spend"] == Decimal("190.00")
    assert row["avg_spend"] == Decimal("63.33")
    assert row["recency_days"] == 30
    assert row["spend_12m"] == Decimal("190.00")
    assert row["stage"] == "growth"
    assert row["stage_reason"] == "2 purchase days so far (growth up to 3)"
    assert row["formula_version"] == 1
    # Before any batch there is no calibration: no CLV, no base-relative classes.
    assert row["clv"] is None
    assert row["p_alive"] is None
    assert row["abc_class"] is None
    assert (row["r"], row["f"], row["m"]) == (0, 0, 0)
    assert set(await db.fetchval("SELECT array_agg(DISTINCT pl) FROM purchases, unnest(product_lines) pl")) == {
        "coffee",
        "tea",
    }


async def test_a_redelivered_event_is_applied_once(api, db):
    c = uuid.uuid4()
    event = order_created(c, ago(10), "25.00")
    first = await deliver(api, event)
    again = await deliver(api, event)
    assert first.json() == {"received": 1, "applied": 1}
    assert again.json() == {"received": 1, "applied": 0}
    assert (await _row(db, c))["order_count"] == 1


async def test_cancel_and_refunds_count_from_their_time(api, db):
    c = uuid.uuid4()
    a, b = order_created(c, ago(60), "100.00"), order_created(c, ago(20), "80.00")
    await deliver(api, a, b)
    await deliver(api, order_adjusted(a, "order.refunded", ago(10), refunded_total="30.00"))
    assert (await _row(db, c))["total_spend"] == Decimal("150.00")
    await deliver(api, order_adjusted(b, "order.cancelled", ago(5)))
    row = await _row(db, c)
    assert (row["order_count"], row["total_spend"], row["stage"]) == (1, Decimal("70.00"), "introduction")
    # A full refund takes the order out like a cancellation.
    await deliver(api, order_adjusted(a, "order.refunded", ago(1), refunded_total="100.00"))
    row = await _row(db, c)
    assert (row["order_count"], row["total_spend"], row["stage"]) == (0, Decimal("0.00"), "introduction")
    assert row["stage_reason"] == "known customer, no purchase yet"


async def test_a_cancellation_seen_before_its_order(api, db):
    c = uuid.uuid4()
    created = order_created(c, ago(3), "60.00", product_lines=("tea",))
    await deliver(api, order_adjusted(created, "order.cancelled", ago(1)))
    await deliver(api, created)
    purchase = await db.fetchrow("SELECT * FROM purchases WHERE order_id = $1", uuid.UUID(created["data"]["order_id"]))
    assert purchase["cancelled_at"] is not None
    assert purchase["product_lines"] == ["tea"]
    assert (await _row(db, c))["order_count"] == 0


async def test_customer_attributes_feed_the_composite_score(api, db):
    c = uuid.uuid4()
    await deliver(api, order_created(c, ago(90), "1000.00"), order_created(c, ago(10), "1000.00"))
    before = (await _row(db, c))["composite_score"]
    await deliver(
        api, customer_event("customer.updated", c, payment_terms="prepaid", brand_contribution="public_figure")
    )
    after = (await _row(db, c))["composite_score"]
    assert after - before == Decimal("25.00")  # credit: prepaid 15, brand: public figure 10
    k = await db.fetchrow("SELECT payment_terms, brand_contribution FROM known_customers WHERE customer_id = $1", c)
    assert tuple(k) == ("prepaid", "public_figure")


async def test_a_new_customer_without_orders_is_in_introduction(api, db):
    c = uuid.uuid4()
    await deliver(api, customer_event("customer.created", c))
    row = await _row(db, c)
    assert (row["stage"], row["order_count"], row["total_spend"]) == ("introduction", 0, Decimal("0.00"))


async def test_merge_folds_purchases_and_later_orders_land_on_the_survivor(api, db):
    survivor, gone = uuid.uuid4(), uuid.uuid4()
    await deliver(api, order_created(survivor, ago(100), "10.00"), order_created(gone, ago(50), "20.00"))
    await deliver(api, merged(survivor, gone))
    assert await _row(db, gone) is None
    row = await _row(db, survivor)
    assert (row["order_count"], row["total_spend"]) == (2, Decimal("30.00"))
    await deliver(api, order_created(gone, ago(1), "5.00"))  # a late event still naming the merged id
    assert (await _row(db, survivor))["order_count"] == 3
    assert await db.fetchval("SELECT count(*) FROM purchases WHERE customer_id = $1", gone) == 0


async def test_stage_changes_are_recorded_and_published(api, db):
    c = uuid.uuid4()
    await deliver(api, order_created(c, ago(400), "10.00"))
    await deliver(api, order_created(c, ago(1), "10.00"))
    changes = await db.fetch(
        "SELECT from_stage, to_stage, cause FROM stage_changes WHERE customer_id = $1 ORDER BY id", c
    )
    assert [tuple(r) for r in changes] == [(None, "churned", "event"), ("churned", "growth", "event")]
    events = [e for e in await _outbox(db) if e["type"] == "lifecycle.changed"]
    assert [(e["data"]["from_stage"], e["data"]["to_stage"]) for e in events] == [
        (None, "churned"),
        ("churned", "growth"),
    ]
    assert events[0]["data"]["reason"] == "no purchase for 400 days (churned after 365)"
    for e in events:
        msgspec.convert(e["data"], EVENT_TYPES[e["type"]])


async def test_material_score_changes_are_recorded_and_published(api, db):
    c = uuid.uuid4()
    await deliver(api, order_created(c, ago(100), "100.00"), order_created(c, ago(50), "100.00"))
    await deliver(api, order_created(c, ago(49), "0.50"))  # +0.5 spend: below the 1-point threshold
    assert await db.fetchval("SELECT count(*) FROM score_changes WHERE customer_id = $1", c) == 0
    await deliver(api, order_created(c, ago(10), "900.00"))
    change = await db.fetchrow("SELECT * FROM score_changes WHERE customer_id = $1", c)
    assert "composite_score" in change["changed"]
    published = [e for e in await _outbox(db) if e["type"] == "score.changed"]
    assert len(published) == 1
    data = msgspec.convert(published[0]["data"], ScoreChangedData)
    assert data.composite_score > data.previous_composite_score
    assert json.loads(json.dumps(published[0]["data"]))["cause"] == "event"


async def test_a_bad_signature_changes_nothing(api, db):
    body = msgspec.json.encode([order_created(uuid.uuid4(), ago(1), "1.00")])
    r = await api.post(
        "/internal/events",
        content=body,
        headers={"webhook-id": "x", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"},
    )
    assert r.status_code == 401
    assert await db.fetchval("SELECT count(*) FROM purchases") == 0


async def test_one_delivery_with_several_event_types(api, db):
    """A new customer's `customer.created` and first `order.created` often travel in one batch: each
    handler rescores in the same transaction."""
    c = uuid.uuid4()
    await deliver(api, customer_event("customer.created", c, payment_terms="cash"), order_created(c, ago(2), "30.00"))
    row = await _row(db, c)
    assert (row["order_count"], row["stage"]) == (1, "introduction")


async def test_explain_shows_each_term_and_the_stage_rule(api, reader, db):
    c = uuid.uuid4()
    await deliver(
        api,
        customer_event("customer.created", c, payment_terms="cash"),
        order_created(c, ago(400), "1000.00"),
        order_created(c, ago(380), "500.00"),
    )
    r = await reader.get(f"/api/v1/scores/customers/{c}/explain")
    assert r.status_code == 200, r.text
    body = r.json()
    terms = {t["term"]: t for t in body["composite"]["explanation"]["terms"]}
    assert terms["spend"]["value"] == 1500.0
    assert terms["spend"]["points"] == "15.00"  # 0.01 per unit
    assert terms["credit"]["value"] == "cash"
    assert terms["credit"]["points"] == "12.00"
    total = sum(Decimal(t["points"]) for t in terms.values())
    assert Decimal(body["composite"]["score"]) == total
    assert body["lifecycle"]["stage"] == "churned"
    assert body["lifecycle"]["reason"] == "no purchase for 380 days (churned after 365)"
    assert (await reader.get(f"/api/v1/scores/customers/{uuid.uuid4()}/explain")).status_code == 404
