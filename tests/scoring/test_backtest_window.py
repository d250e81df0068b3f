"""Backtests over a window: predictions for (as_of, until] are compared with the purchases made in that same
window (until defaults to the last order known, so a history that ended long ago is judged on its own
span), with horizons chosen per run, every model's fit, holdout total and churn AUCs readable from the run."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from crm_scoring.batch.runner import run_batch
from crm_scoring.compute.fitting import PARAM_ORDER
from tests.scoring.helpers import finished_run, load_purchases, mbgnbd_orders

# The history stops long before now (an imported public data set); fixed, with the seeded ids, so each test
# sees the same draws and the same UTC days whenever it runs.
END = datetime(2025, 6, 30, 14, 0, tzinfo=UTC)
HOLDOUT_DAYS = 180
PURCHASE_MODELS = ("bgnbd", "mbgnbd", "paretonbd")


async def _actual(db, as_of: datetime, until: datetime) -> dict:
    """Buyers as of `as_of` and the purchase days they added in (as_of, until], counted independently in SQL."""
    return await db.fetchrow(
        """
        WITH days AS (
            SELECT customer_id, (ordered_at AT TIME ZONE 'UTC')::date AS day, ordered_at <= $1 AS before
            FROM purchases WHERE ordered_at <= $2
        ), per AS (
            SELECT customer_id, count(DISTINCT day) FILTER (WHERE before) AS n_then,
                   count(DISTINCT day) AS n_until FROM days GROUP BY 1
        )
        SELECT count(*) FILTER (WHERE n_then > 0) AS buyers,
               sum(n_until - n_then) FILTER (WHERE n_then > 0) AS added
        FROM per
        """,
        as_of,
        until,
    )


def _day(at: datetime) -> int:
    return (at.astimezone(UTC).date() - datetime(1970, 1, 1).date()).days


async def test_a_backtest_of_an_old_history_predicts_over_the_span_it_counts(db, engine, settings):
    """The horizon bug: a history ending long ago, backtested 180 days before its end, was predicted over
    to now but counted over 180 (to the last order): predicted/actual far above 1."""
    await load_purchases(db, mbgnbd_orders(4000, 3, END, HOLDOUT_DAYS))
    as_of = END - timedelta(days=HOLDOUT_DAYS)
    last_order = await db.fetchval("SELECT max(ordered_at) FROM purchases")
    result = await run_batch(engine, settings, as_of=as_of, store=False)
    backtest = result.stats["backtest"]
    assert datetime.fromisoformat(backtest["until"]) == last_order
    assert backtest["holdout_days"] == _day(last_order) - _day(as_of)
    expected = await _actual(db, as_of, last_order)
    assert (backtest["buyers"], backtest["actual_purchase_days"]) == (expected["buyers"], expected["added"])
    # Drawn from MBG/NBD: every purchase model predicts the window's total within 20%, and each churn signal
    # ranks the customers who then bought nothing clearly better than chance.
    assert backtest["predicted_over_actual"] == pytest.approx(1.0, abs=0.2)
    for name in PURCHASE_MODELS:
        model = backtest["models"][name]
        assert model["predicted_over_actual"] == pytest.approx(1.0, abs=0.2), name
        assert model["holdout_error"] == pytest.approx(model["predicted_over_actual"] - 1.0, abs=1e-3)
        assert model["predicted_purchase_days"] == pytest.approx(
            model["predicted_over_actual"] * backtest["actual_purchase_days"], rel=1e-3
        )
        assert model["p_no_purchase_auc"] > 0.6, name
        assert model["minus_expected_purchases_auc"] > 0.6, name
    # The churn risk customers got (the signal the run chose on the history before as_of) does not lose to the
    # best signal of the model that generated the data.
    assert backtest["churn_signal"] == result.stats["selection"]["churn_signal"]
    assert backtest["churn_auc"] >= backtest["models"]["mbgnbd"]["p_no_purchase_auc"] - 0.01
    assert backtest["models"]["mbgnbd"]["churn_auc"] > 0.6
    assert backtest["recency_auc"] > 0.6


async def test_until_closes_the_window_earlier(db, engine, settings):
    await load_purchases(db, mbgnbd_orders(3000, 4, END, HOLDOUT_DAYS))
    as_of, until = END - timedelta(days=HOLDOUT_DAYS), END - timedelta(days=HOLDOUT_DAYS - 90)
    result = await run_batch(engine, settings, as_of=as_of, until=until, store=False)
    backtest = result.stats["backtest"]
    assert datetime.fromisoformat(backtest["until"]) == until
    assert backtest["holdout_days"] == 90
    expected = await _actual(db, as_of, until)
    assert backtest["actual_purchase_days"] == expected["added"]
    assert backtest["predicted_over_actual"] == pytest.approx(1.0, abs=0.25)


async def test_the_run_shows_its_window_horizons_fits_and_per_model_results(api, reader, db):
    await load_purchases(db, mbgnbd_orders(400, 5, END, HOLDOUT_DAYS))
    as_of, until = END - timedelta(days=HOLDOUT_DAYS), END - timedelta(days=30)
    r = await api.post(
        "/api/v1/scores/recompute",
        json={"as_of": as_of.isoformat(), "until": until.isoformat(), "horizons_days": [30, 150], "keep_scores": True},
    )
    assert r.status_code == 202, r.text
    run = await finished_run(api, r.headers["location"], polls=1200)
    assert run["status"] == "succeeded", run
    stats = run["stats"]
    assert stats["horizons_days"] == [30, 150]
    assert datetime.fromisoformat(stats["backtest"]["until"]) == until
    assert stats["backtest"]["holdout_days"] == HOLDOUT_DAYS - 30
    # Each fitted model's parameters by name, with its diagnostics, as GET /scores/models shows a stored
    # calibration's (a backtest stores none).
    for name in (*PURCHASE_MODELS, "gammagamma"):
        fit = stats["fits"][name]
        assert set(fit["params"]) == set(PARAM_ORDER[name])
        assert all(v > 0 for v in fit["params"].values())
        assert {"log_likelihood", "converged", "iterations", "n_customers", "n_distinct"} <= set(fit)
    assert set(stats["backtest"]["models"]) == set(PURCHASE_MODELS)
    assert (await reader.get("/api/v1/scores/models")).status_code == 404
    # The kept list carries expected purchases per run horizon and expected spend, as the one-customer read.
    page = (await reader.get(f"/api/v1/scores/runs/{run['id']}/customers", params={"limit": 1000})).json()
    assert len(page["items"]) == stats["kept_scores"] > 0
    with_model = [x for x in page["items"] if x["p_alive"] is not None]
    assert with_model
    for item in with_model[:20]:
        assert set(item["expected_purchases"]) == {"30", "150"}
        assert item["expected_purchases"]["150"] >= item["expected_purchases"]["30"]
        one = (await reader.get(f"/api/v1/scores/runs/{run['id']}/customers/{item['customer_id']}")).json()
        assert item["expected_purchases"] == one["expected_purchases"]
        assert item["expected_spend"] == one["expected_spend"]
    # The live rules were not touched.
    rules = (await reader.get("/api/v1/scores/rules/clv")).json()
    assert rules["rules"]["horizons_days"] == [90, 365]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"as_of": "2026-01-01T00:00:00Z", "until": "2025-12-31T00:00:00Z"}, "#/until"),  # before as_of
        ({"as_of": "2026-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "#/until"),  # an empty window
        ({"as_of": "2026-01-01T00:00:00Z", "until": "2999-01-01T00:00:00Z"}, "#/until"),  # in the future
        ({"until": "2026-01-01T00:00:00Z"}, "#/until"),  # a run as of now stores: no window
        ({"as_of": "2026-01-01T00:00:00Z", "horizons_days": []}, "#/horizons_days"),
        ({"as_of": "2026-01-01T00:00:00Z", "horizons_days": [30, 30]}, "#/horizons_days"),
        ({"as_of": "2026-01-01T00:00:00Z", "horizons_days": [0]}, "#/horizons_days"),
        ({"horizons_days": [30]}, "#/horizons_days"),  # live scores keep the rules' horizons
    ],
)
async def test_until_and_horizons_are_validated(api, db, body, pointer):
    r = await api.post("/api/v1/scores/recompute", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    error = r.json()["errors"][0]
    assert error["pointer"].startswith(pointer)
    assert "extra" not in error["detail"].lower()  # refused for what it says, not as an unknown field
    assert await db.fetchval("SELECT count(*) FROM batch_runs") == 0


def test_the_cli_takes_until_and_horizons(db_url):
    env = {**os.environ, "SCORING_DATABASE_URL": db_url, "SCORING_LOG_LEVEL": "WARNING"}
    args = ["--as-of", "2026-01-01T00:00:00+00:00", "--until", "2026-03-01T00:00:00+00:00", "--horizons", "30,90"]
    done = subprocess.run(
        [sys.executable, "-m", "crm_scoring.batch", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert stats["stored"] is False
    assert stats["horizons_days"] == [30, 90]
    assert stats["until"] == "2026-03-01T00:00:00+00:00"
    bad = subprocess.run(
        [sys.executable, "-m", "crm_scoring.batch", "--until", "2026-03-01T00:00:00+00:00"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert "--until" in bad.stderr
