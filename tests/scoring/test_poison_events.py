"""Poison events (issue finding 10): an order the customer service accepted but scoring cannot store
(an amount past its numeric columns) is set aside as a dead letter, while the ordinary orders of the same
delivery apply and the delivery is acknowledged (2xx), so the relay stops retrying; once scoring can hold
it, a replay applies it. A failure that is no fault of the event (a lock timeout) still fails the whole
delivery, to be retried, and sets nothing aside."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import msgspec

from crm_scoring.main import create_app
from crm_shared.embedded_pg import asyncpg_dsn
from crm_shared.signing import signature_headers
from crm_shared.testing import TEST_EVENT_SECRET, app_client, principal_headers
from tests.customer.helpers import idem
from tests.scoring.events import deliver, order_created

NOW = datetime.now(UTC)
DEAD_LETTERS = "/api/v1/scores/dead-letters"
ADMIN = principal_headers(
    "root", "user", "scores:read", "scores:write", "events:admin", "pii:read", service="scoring", roles=("admin",)
)


async def poison_amount(db) -> Decimal:
    """What the customer service accepted in the finding (1e13), or the smallest amount scoring's
    purchases cannot hold, whichever is larger: stays poison if the columns are widened."""
    precision, scale = await db.fetchrow(
        "SELECT numeric_precision, numeric_scale FROM information_schema.columns "
        "WHERE table_name = 'purchases' AND column_name = 'amount'"
    )
    return max(Decimal(10) ** 13, Decimal(10) ** (precision - scale))


async def test_a_poison_order_is_dead_lettered_and_the_rest_of_its_delivery_applies(api, db):
    c, poisoned = uuid.uuid4(), uuid.uuid4()
    good = [order_created(c, NOW - timedelta(days=30), "40.00"), order_created(c, NOW - timedelta(days=2), "60.00")]
    poison = order_created(poisoned, NOW - timedelta(days=1), await poison_amount(db))
    r = await deliver(api, good[0], poison, good[1])  # 200, or deliver() fails
    assert r.json() == {"received": 3, "applied": 2, "dead_lettered": 1}

    row = await db.fetchrow("SELECT order_count, total_spend FROM customer_scores WHERE customer_id = $1", c)
    assert (row["order_count"], row["total_spend"]) == (2, Decimal("100.00"))
    assert await db.fetchval("SELECT count(*) FROM purchases WHERE customer_id = $1", poisoned) == 0
    applied = {str(i) for i in await db.fetchval("SELECT array_agg(event_id) FROM inbox_events")}
    assert applied == {good[0]["id"], good[1]["id"]}  # the poison id is not kept as applied

    async with app_client(create_app(api._transport.app.state.settings), headers=ADMIN) as admin:
        (listed,) = (await admin.get(DEAD_LETTERS)).json()["items"]
        assert (listed["event_id"], listed["event_type"], listed["source"], listed["attempts"]) == (
            poison["id"],
            "order.created",
            "/services/customer",
            1,
        )
        assert "NumericValueOutOfRangeError" in listed["reason"]
        assert "22003" in listed["reason"]
        detail = (await admin.get(f"{DEAD_LETTERS}/{listed['id']}")).json()
        assert detail["payload"]["data"] == poison["data"]


async def test_the_same_poison_redelivered_stays_one_dead_letter(api, db):
    c = uuid.uuid4()
    good = order_created(c, NOW - timedelta(days=3), "10.00")
    poison = order_created(c, NOW - timedelta(days=1), await poison_amount(db))
    await deliver(api, good, poison)
    again = await deliver(api, good, poison)  # the relay sends the same message again
    assert again.json() == {"received": 2, "applied": 0, "dead_lettered": 1}
    assert await db.fetchval("SELECT attempts FROM inbox_dead_letters") == 2
    assert await db.fetchval("SELECT order_count FROM customer_scores WHERE customer_id = $1", c) == 1


async def test_poison_among_many_orders_of_one_group(api, db):
    """Two poison orders in a group of twelve: the group is retried in halves, and exactly the ten good
    orders apply."""
    customers = [uuid.uuid4() for _ in range(12)]
    amount = await poison_amount(db)
    events = [
        order_created(cid, NOW - timedelta(days=i + 1), amount if i in (3, 10) else f"{i + 1}.00")
        for i, cid in enumerate(customers)
    ]
    r = await deliver(api, *events)
    assert r.json() == {"received": 12, "applied": 10, "dead_lettered": 2}
    stored = {r["customer_id"] for r in await db.fetch("SELECT customer_id FROM purchases")}
    assert stored == {cid for i, cid in enumerate(customers) if i not in (3, 10)}
    dead = {str(r["event_id"]) for r in await db.fetch("SELECT event_id FROM inbox_dead_letters")}
    assert dead == {events[3]["id"], events[10]["id"]}


async def test_replayed_once_scoring_can_hold_it(api, db):
    c = uuid.uuid4()
    poison = order_created(c, NOW - timedelta(days=1), "10000000000000.00")
    await deliver(api, poison)
    dead_id = await db.fetchval("SELECT id FROM inbox_dead_letters")
    async with app_client(create_app(api._transport.app.state.settings), headers=ADMIN) as admin:
        still = await admin.post(f"{DEAD_LETTERS}/{dead_id}/replay", headers=idem())
        assert still.status_code == 200, still.text
        assert still.json()["outcome"] == "failed"
        assert await db.fetchval("SELECT attempts FROM inbox_dead_letters") == 2
        # The fix: scoring's money columns hold what the customer service accepts.
        money_columns = await db.fetch(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.numeric_precision = 14"
        )
        # The whole-cents copies of money (generated columns) go first and come back after: a column a
        # generated one reads cannot change type.
        cents = {
            "customer_scores": {"clv_cents": "clv", "composite_cents": "composite_score"},
            "purchases": {"amount_cents": "amount", "refunded_cents": "refunded_amount"},
        }
        for table, columns in cents.items():
            await db.execute(f"ALTER TABLE {table} " + ", ".join(f"DROP COLUMN {c}" for c in columns))
        for table, column in money_columns:
            await db.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE numeric(20, 2)")
        for table, columns in cents.items():
            added = (
                f"ADD COLUMN {c} bigint GENERATED ALWAYS AS (({m} * 100)::bigint) STORED" for c, m in columns.items()
            )
            await db.execute(f"ALTER TABLE {table} " + ", ".join(added))
        replayed = await admin.post(f"{DEAD_LETTERS}/{dead_id}/replay", headers=idem())
        assert replayed.json() == {"id": dead_id, "event_id": poison["id"], "outcome": "applied", "reason": None}
    assert await db.fetchval("SELECT count(*) FROM inbox_dead_letters") == 0
    assert await db.fetchval("SELECT count(*) FROM inbox_events WHERE event_id = $1", uuid.UUID(poison["id"])) == 1
    assert await db.fetchval("SELECT total_spend FROM customer_scores WHERE customer_id = $1", c) == Decimal(
        "10000000000000.00"
    )


async def test_a_lock_timeout_fails_the_whole_delivery_and_sets_nothing_aside(settings, db_url, db):
    """Not the event's fault: the relay must retry the delivery, not lose the event to a dead letter."""
    c = uuid.uuid4()
    await db.execute("INSERT INTO known_customers (customer_id) VALUES ($1)", c)
    holder = await asyncpg.connect(asyncpg_dsn(db_url))
    app = create_app(settings.model_copy(update={"db_lock_timeout_ms": 200}))
    try:
        async with holder.transaction(), app_client(app) as client:
            await holder.execute("SELECT 1 FROM known_customers WHERE customer_id = $1 FOR UPDATE", c)
            body = msgspec.json.encode([order_created(c, NOW, "5.00"), order_created(uuid.uuid4(), NOW, "7.00")])
            headers = {**signature_headers(TEST_EVENT_SECRET, "m-1", body), "content-type": "application/json"}
            r = await asyncio.wait_for(client.post("/internal/events", content=body, headers=headers), 10)
        assert r.status_code == 409, r.text
        assert r.headers["Retry-After"] == "1"
    finally:
        await holder.close()
    for table in ("inbox_events", "inbox_dead_letters", "purchases"):
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == 0, table
