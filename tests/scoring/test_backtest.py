"""Backtests: a run as of a past date that stores nothing and compares its predictions with what followed."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from crm_scoring.batch.runner import run_batch
from tests.scoring.helpers import finished_run, load_purchases, mbgnbd_orders

NOW = datetime.now(UTC).replace(microsecond=0)
HOLDOUT_DAYS = 180


async def test_a_backtest_stores_nothing_and_compares_predictions_with_what_followed(db, engine, settings):
    orders = mbgnbd_orders(4000, 3, NOW, HOLDOUT_DAYS)
    await load_purchases(db, orders)
    as_of = NOW - timedelta(days=HOLDOUT_DAYS)
    result = await run_batch(engine, settings, as_of=as_of, store=False)
    for table in ("customer_scores", "calibrations", "points_ledger", "stage_changes", "outbox_messages"):
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    stats = result.stats
    assert stats["stored"] is False
    backtest = stats["backtest"]
    # The window ends at the last order known (an hour or so before now), in whole days from as_of.
    last_order = await db.fetchval("SELECT max(ordered_at) FROM purchases")
    assert backtest["holdout_days"] == (last_order.date() - as_of.date()).days
    # The actual figures, counted independently in SQL.
    expected = await db.fetchrow(
        """
        WITH days AS (
            SELECT customer_id, (ordered_at AT TIME ZONE 'UTC')::date AS day, ordered_at <= $1 AS before
            FROM purchases
        ), per AS (
            SELECT customer_id, count(DISTINCT day) FILTER (WHERE before) AS n_then,
                   count(DISTINCT day) AS n_now FROM days GROUP BY 1
        )
        SELECT count(*) FILTER (WHERE n_then > 0) AS buyers, sum(n_now - n_then) FILTER (WHERE n_then > 0) AS added
        FROM per
        """,
        as_of,
    )
    assert backtest["buyers"] == expected["buyers"]
    assert backtest["actual_purchase_days"] == expected["added"]
    # The models were drawn from: the predicted total is close, and the churn risk ranks the customers who
    # then bought nothing at least about as well as days since the last purchase.
    assert backtest["predicted_over_actual"] == pytest.approx(1.0, abs=0.2)
    assert backtest["churn_auc"] > 0.6
    assert backtest["churn_auc"] >= backtest["recency_auc"] - 0.03
    assert sum(stats["stages"].values()) == stats["customers"]
    run = await db.fetchrow("SELECT status, calibration_id FROM batch_runs WHERE id = $1", result.run_id)
    assert (run["status"], run["calibration_id"]) == ("succeeded", None)


async def test_a_past_as_of_is_a_backtest_through_the_api(api, db):
    customer = uuid.uuid4()
    await db.execute(
        "INSERT INTO purchases (order_id, customer_id, ordered_at, amount, currency) VALUES ($1, $2, $3, 25, 'EUR')",
        uuid.uuid4(),
        customer,
        NOW - timedelta(days=400),
    )
    await db.execute("INSERT INTO known_customers (customer_id) VALUES ($1)", customer)
    # Without `store`, a past date backtests: the run succeeds and the live scores stay untouched.
    r = await api.post("/api/v1/scores/recompute", json={"as_of": (NOW - timedelta(days=30)).isoformat()})
    assert r.status_code == 202
    run = await finished_run(api, r.headers["location"])
    assert run["status"] == "succeeded", run
    assert run["stats"]["stored"] is False
    assert run["stats"]["customers"] == 1
    assert await db.fetchval("SELECT count(*) FROM customer_scores") == 0
    assert await db.fetchval("SELECT count(*) FROM calibrations") == 0
    # Asking to store a past date is refused, naming the field, and starts nothing.
    bad = await api.post("/api/v1/scores/recompute", json={"as_of": "2026-01-01T00:00:00Z", "store": True})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["errors"][0]["pointer"] == "#/store"
    assert await db.fetchval("SELECT count(*) FROM batch_runs") == 1
    # A run as of now stores by default.
    now = await api.post("/api/v1/scores/recompute", json={})
    assert (await finished_run(api, now.headers["location"]))["stats"]["stored"] is True
    assert await db.fetchval("SELECT count(*) FROM customer_scores") == 1
