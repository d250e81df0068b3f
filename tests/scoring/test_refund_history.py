"""Each partial refund is kept with its own time, so a recompute as of any date subtracts exactly the refunds
made by then (the copy used to keep only the latest refund's time beside the running total, so a date between
two refunds counted all of them or none)."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from crm_scoring.batch.runner import run_batch
from crm_scoring.purchases.rebuild import _flush
from crm_shared.db import create_sessionmaker
from tests.scoring.events import deliver, order_adjusted, order_created

NOW = datetime.now(UTC).replace(microsecond=0)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


async def _spend_as_of(db, engine, settings, customer: uuid.UUID, as_of: datetime) -> Decimal:
    result = await run_batch(engine, settings, as_of=as_of, store=False, keep_scores=True, refit=False)
    return await db.fetchval(
        "SELECT total_spend FROM run_scores WHERE run_id = $1 AND customer_id = $2", result.run_id, customer
    )


@pytest.mark.parametrize("refunds_in_order", [True, False])
async def test_a_date_between_two_partial_refunds_counts_the_earlier_one(
    api, db, engine, settings, refunds_in_order: bool
):
    c = uuid.uuid4()
    order = order_created(c, ago(100), "800.00")
    first = order_adjusted(order, "order.refunded", ago(50), refunded_total="100.00")
    second = order_adjusted(order, "order.refunded", ago(20), refunded_total="300.00")
    await deliver(api, order)
    for event in (first, second) if refunds_in_order else (second, first):
        await deliver(api, event)
    await deliver(api, first)  # a redelivery changes nothing
    assert await _spend_as_of(db, engine, settings, c, ago(60)) == Decimal("800.00")
    assert await _spend_as_of(db, engine, settings, c, ago(30)) == Decimal("700.00")
    assert await _spend_as_of(db, engine, settings, c, ago(10)) == Decimal("500.00")
    assert (await db.fetchrow("SELECT total_spend FROM customer_scores WHERE customer_id = $1", c))[
        "total_spend"
    ] == Decimal("500.00")
    rows = await db.fetch(
        "SELECT refunded_total, refunded_at FROM purchase_refunds WHERE order_id = $1 ORDER BY refunded_at",
        uuid.UUID(order["data"]["order_id"]),
    )
    assert [(r["refunded_total"], r["refunded_at"]) for r in rows] == [
        (Decimal("100.00"), ago(50)),
        (Decimal("300.00"), ago(20)),
    ]


async def test_a_rebuild_keeps_the_refund_times_the_events_gave(api, db, engine):
    """The export knows only the refunded total and the order's last change: a rebuild adds that point to the
    history but does not replace the exact times the events recorded."""
    c = uuid.uuid4()
    order = order_created(c, ago(100), "800.00")
    await deliver(api, order, order_adjusted(order, "order.refunded", ago(50), refunded_total="100.00"))
    await deliver(api, order_adjusted(order, "order.refunded", ago(20), refunded_total="300.00"))
    order_id = uuid.UUID(order["data"]["order_id"])
    exported = (order_id, c, ago(100), Decimal("800.00"), "EUR", Decimal("300.00"), ago(19), None, [])
    fresh = uuid.uuid4()  # an order known only from the export
    exported_fresh = (fresh, c, ago(90), Decimal("50.00"), "EUR", Decimal("20.00"), ago(40), None, [])
    async with create_sessionmaker(engine)() as session, session.begin():
        await _flush(session, [exported, exported_fresh])
    history = await db.fetch(
        "SELECT order_id, refunded_total, refunded_at FROM purchase_refunds ORDER BY order_id, refunded_at"
    )
    assert {(r["order_id"], r["refunded_total"], r["refunded_at"]) for r in history} == {
        (order_id, Decimal("100.00"), ago(50)),
        (order_id, Decimal("300.00"), ago(20)),
        (fresh, Decimal("20.00"), ago(40)),
    }
