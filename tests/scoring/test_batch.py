"""Batch recompute: as-of semantics, fits and cut points stored as a calibration, the points ledger, runs
and their API, and the central promise: incremental scoring after events equals the batch computation."""

import json
import math
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from crm_scoring.batch.runner import BatchAlreadyRunning, run_batch
from crm_scoring.compute.fitting import PARAM_ORDER as FIT_PARAM_ORDER
from crm_scoring.compute.score import score
from crm_scoring.compute.state import load_state
from crm_scoring.compute.summary import read_summaries
from crm_scoring.main import create_app
from crm_shared.db import create_sessionmaker, driver_connection
from tests.scoring.events import deliver, order_adjusted, order_created
from tests.scoring.helpers import finished_run

NOW = datetime.now(UTC).replace(microsecond=0)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def _history(seed: int, customers: int) -> tuple[list[dict], list[uuid.UUID]]:
    """Customers with 1-8 orders over two years, heterogeneous spend."""
    rng = np.random.default_rng(seed)
    events, ids = [], []
    for _ in range(customers):
        c = uuid.uuid4()
        ids.append(c)
        for day in sorted(rng.choice(730, size=int(rng.integers(1, 9)), replace=False)):
            events.append(order_created(c, ago(int(day) + 0.5), f"{rng.gamma(2.0, 40.0) + 1:.2f}"))
    return events, ids


async def _load(api, events: list[dict]) -> None:
    for i in range(0, len(events), 400):
        await deliver(api, *events[i : i + 400])


async def test_batch_scores_the_whole_base(api, db, engine, settings):
    events, _ = _history(1, 300)
    await _load(api, events)
    result = await run_batch(engine, settings, as_of=NOW)
    stats = result.stats
    assert stats["customers"] == 300
    assert stats["written"] == 300
    assert set(stats["fits"]) == {"bgnbd", "mbgnbd", "gammagamma"}
    assert set(stats["timings"]) >= {"read", "fit", "score", "write", "total"}
    run = await db.fetchrow("SELECT * FROM batch_runs WHERE id = $1", result.run_id)
    assert (run["status"], run["phase"], run["progress"]) == ("succeeded", "done", 1.0)
    # The run's span covers every phase, the final write included (its transaction began before it).
    assert run["finished_at"] - run["started_at"] >= timedelta(seconds=stats["timings"]["total"])
    cal = await db.fetchrow("SELECT * FROM calibrations WHERE id = $1", run["calibration_id"])
    fits = json.loads(cal["fits"])
    assert fits["mbgnbd"]["n_customers"] == 300
    assert set(json.loads(cal["cuts"])) == {"r", "f", "m", "abc", "gold"}
    rows = await db.fetch("SELECT * FROM customer_scores")
    assert all(r["calibration_id"] == cal["id"] and r["clv"] is not None and 0 <= r["p_alive"] <= 1 for r in rows)
    assert {r["abc_class"] for r in rows} == {"A", "B", "C"}
    # Gold: the top 5% of the customers with revenue in the last 12 months (continuous spend: no ties).
    recent = sorted((r["spend_12m"] for r in rows if r["spend_12m"] > 0), reverse=True)
    k = math.ceil(0.05 * len(recent))
    assert {r["customer_id"] for r in rows if r["gold"]} == {
        r["customer_id"] for r in rows if r["spend_12m"] >= recent[k - 1] > 0
    }
    assert sum(r["gold"] for r in rows) == k
    # ABC is exact: A holds the customers before the 80% line of revenue, sorted by revenue.
    spend = sorted((r["total_spend"] for r in rows), reverse=True)
    total = sum(spend)
    n_a = sum(1 for i in range(len(spend)) if sum(spend[:i]) < Decimal("0.8") * total)
    assert sum(r["abc_class"] == "A" for r in rows) == n_a
    # The membership points ledger: this month's points equal the composite score.
    ledger = await db.fetch(
        "SELECT l.points, s.composite_score FROM points_ledger l JOIN customer_scores s USING (customer_id) "
        "WHERE l.month = $1",
        NOW.date().replace(day=1),
    )
    assert len(ledger) == 300
    assert all(r["points"] == r["composite_score"] for r in ledger)
    assert stats["ledger_rows"] == 300
    assert any(e for e in await db.fetch("SELECT 1 FROM outbox_messages WHERE 'scores.recomputed' = ANY(event_types)"))
    # A rerun in the same month rewrites only the points that changed; run_id says which run last set them.
    changed = [r["customer_id"] for r in rows[:7]]
    await db.execute("UPDATE points_ledger SET points = points + 1 WHERE customer_id = ANY($1)", changed)
    again = await run_batch(engine, settings, as_of=NOW)
    assert again.stats["ledger_rows"] == 7
    by_run = await db.fetch("SELECT run_id, array_agg(customer_id) AS ids FROM points_ledger GROUP BY run_id")
    assert {r["run_id"]: set(r["ids"]) for r in by_run} == {
        result.run_id: {r["customer_id"] for r in rows} - set(changed),
        again.run_id: set(changed),
    }
    assert all(
        r["points"] == r["composite_score"]
        for r in await db.fetch(
            "SELECT l.points, s.composite_score FROM points_ledger l JOIN customer_scores s USING (customer_id)"
        )
    )


async def test_as_of_counts_only_what_was_known_then(api, db, engine, settings):
    c = uuid.uuid4()
    early, late = order_created(c, ago(100), "100.00"), order_created(c, ago(10), "50.00")
    await deliver(api, early, late)
    await deliver(api, order_adjusted(early, "order.cancelled", ago(5)))
    await run_batch(engine, settings, as_of=ago(20))  # before the late order and before the cancellation
    row = await db.fetchrow("SELECT * FROM customer_scores WHERE customer_id = $1", c)
    assert (row["order_count"], row["total_spend"], row["recency_days"]) == (1, Decimal("100.00"), 80)
    assert row["as_of"] == ago(20)
    await run_batch(engine, settings, as_of=NOW)
    row = await db.fetchrow("SELECT * FROM customer_scores WHERE customer_id = $1", c)
    assert (row["order_count"], row["total_spend"], row["recency_days"]) == (1, Decimal("50.00"), 10)


async def test_incremental_scoring_equals_the_batch_computation(api, db, engine, settings):
    events, ids = _history(2, 250)
    await _load(api, events)
    await run_batch(engine, settings, as_of=NOW)
    touched = ids[:6]
    await deliver(api, *[order_created(c, ago(0.2), "75.25") for c in touched[:3]])
    first = next(e for e in events if uuid.UUID(e["data"]["customer_id"]) == touched[3])
    await deliver(api, order_adjusted(first, "order.refunded", ago(0.1), refunded_total="1.00"))
    incremental = {
        r["customer_id"]: r
        for r in await db.fetch("SELECT * FROM customer_scores WHERE customer_id = ANY($1)", touched[:4])
    }
    as_of = max(r["as_of"] for r in incremental.values())
    assert as_of.date() == min(r["as_of"] for r in incremental.values()).date()
    # The batch's computation over the whole base with the same calibration, as of the same instant.
    async with create_sessionmaker(engine)() as session:
        state = await load_state(session)
        conn = await driver_connection(session)
        summaries = await read_summaries(conn, as_of, trend_window_days=state.rules.clv.trend_window_days)
    scored = score(summaries, state.rules, state.formula_version, state.formula, state.calibration)
    position = {c: i for i, c in enumerate(summaries.customer_ids())}
    stage_names = ["introduction", "growth", "maturity", "decline", "churned"]
    abc_names = [None, "C", "B", "A"]
    for c, row in incremental.items():
        i = position[c]
        assert row["order_count"] == scored["n_orders"][i]
        assert row["total_spend"] == round(Decimal(float(scored["total"][i])), 2)
        assert float(row["composite_score"]) == pytest.approx(float(scored["composite"][i]), abs=0.005)
        assert (row["r"], row["f"], row["m"]) == (scored["r"][i], scored["f"][i], scored["m"][i])
        assert row["abc_class"] == abc_names[scored["abc"][i]]
        assert row["gold"] == scored["gold"][i]
        assert row["p_alive"] == pytest.approx(scored["p_alive"][i], rel=1e-12)
        assert float(row["clv"]) == pytest.approx(float(scored["clv"][i]), abs=0.005)
        assert row["expected_purchases"] == pytest.approx([scored["exp_0"][i], scored["exp_1"][i]], rel=1e-12)
        assert row["stage"] == stage_names[scored["stage"][i]]
    # And a stored batch run keeping the fits gives these customers the same per-customer figures.
    await run_batch(engine, settings, as_of=as_of, refit=False)
    for c, row in incremental.items():
        again = await db.fetchrow("SELECT * FROM customer_scores WHERE customer_id = $1", c)
        for column in ("order_count", "total_spend", "composite_score", "clv", "expected_spend", "stage", "drag"):
            assert again[column] == row[column], column
        assert again["p_alive"] == pytest.approx(row["p_alive"], rel=1e-12)


async def test_rows_rescored_by_events_during_a_run_keep_their_newer_scores(api, db, engine, settings):
    events, ids = _history(3, 60)
    await _load(api, events)
    await run_batch(engine, settings, as_of=NOW)
    # A run reading before the event, writing after: simulate by moving the event's computed_at forward.
    await deliver(api, order_created(ids[0], ago(0.1), "10.00"))
    await db.execute(
        "UPDATE customer_scores SET computed_at = now() + interval '1 hour' WHERE customer_id = $1", ids[0]
    )
    count_before = await db.fetchval("SELECT order_count FROM customer_scores WHERE customer_id = $1", ids[0])
    result = await run_batch(engine, settings, as_of=ago(30))
    assert result.stats["skipped_newer"] == 1
    assert await db.fetchval("SELECT order_count FROM customer_scores WHERE customer_id = $1", ids[0]) == count_before


async def test_one_run_at_a_time_and_stale_runs_expire(db, engine, settings):
    await db.execute("INSERT INTO batch_runs (as_of, status, started_at) VALUES (now(), 'running', now())")
    with pytest.raises(BatchAlreadyRunning):
        await run_batch(engine, settings)
    await db.execute("UPDATE batch_runs SET heartbeat_at = now() - interval '1 hour'")
    result = await run_batch(engine, settings)
    statuses = [r["status"] for r in await db.fetch("SELECT status FROM batch_runs ORDER BY id")]
    assert statuses == ["failed", "succeeded"]
    assert result.stats["notes"]  # an empty base: the models were not fitted, and the run says why


async def test_recompute_api(api, reader, db):
    events, _ = _history(4, 80)
    await _load(api, events)
    r = await api.post("/api/v1/scores/recompute", json={"refit": True})
    assert r.status_code == 202
    run = await finished_run(api, r.headers["location"], polls=200)
    assert run["status"] == "succeeded", run
    assert run["stats"]["written"] == 80
    listed = (await reader.get("/api/v1/scores/runs")).json()
    assert [x["id"] for x in listed["items"]] == [run["id"]]
    assert (await reader.post("/api/v1/scores/recompute", json={})).status_code == 403
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    bad = await api.post("/api/v1/scores/recompute", json={"as_of": future})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "#/as_of"
    naive = await api.post("/api/v1/scores/recompute", json={"as_of": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    assert (await api.get("/api/v1/scores/runs/999")).status_code == 404
    assert await db.fetchval("SELECT count(*) FROM batch_runs") == 1


async def test_recompute_api_refuses_a_second_run(api, db):
    await db.execute("INSERT INTO batch_runs (as_of, status, started_at) VALUES (now(), 'running', now())")
    r = await api.post("/api/v1/scores/recompute", json={})
    assert r.status_code == 409
    assert r.headers["retry-after"] == "30"


def test_cli_runs_a_batch(db_url):
    env = {**os.environ, "SCORING_DATABASE_URL": db_url, "SCORING_LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "-m", "crm_scoring.batch", "--as-of", "2026-01-01T00:00:00+00:00", "--no-refit"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert stats["customers"] == 0
    assert stats["stored"] is False  # a past date backtests
    assert "backtests" in done.stderr
    assert "done 100%" in done.stderr
    kept = subprocess.run(
        [sys.executable, "-m", "crm_scoring.batch", "--keep-scores", "--no-refit"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert kept.returncode == 0, kept.stderr
    assert json.loads(kept.stdout)["stored"] is False
    assert json.loads(kept.stdout)["kept_scores"] == 0
    bad = subprocess.run(
        [sys.executable, "-m", "crm_scoring.batch", "--as-of", "2026-01-01"], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert "timezone" in bad.stderr


def test_app_factory_is_importable():
    assert create_app is not None


async def test_reads_keep_working_across_the_table_swap(api, engine, settings):
    """The batch replaces customer_scores with a new table: the service's pooled connections, with their
    prepared statements, go on reading it."""
    events, ids = _history(5, 60)
    await _load(api, events)
    for _ in range(3):
        listed = await api.get("/api/v1/scores/customers", params={"limit": 10})
        one = await api.get(f"/api/v1/scores/customers/{ids[0]}")
        assert (listed.status_code, one.status_code) == (200, 200)
        await run_batch(engine, settings, as_of=NOW)
    after = await api.get(f"/api/v1/scores/customers/{ids[0]}")
    assert after.status_code == 200
    assert after.json()["clv"] is not None


async def test_fits_read_back_from_the_database_score_like_the_fresh_ones(api, db, engine, settings):
    """jsonb reorders object keys: the stored parameters must come back in the model's order, or events and
    runs that keep the fits would score with BG/NBD's (a, b, r, alpha) taken for (r, alpha, a, b)."""
    events, _ = _history(6, 120)
    await _load(api, events)
    await run_batch(engine, settings, as_of=NOW)  # fresh fits, in memory
    fresh = {r["customer_id"]: r for r in await db.fetch("SELECT * FROM customer_scores")}
    async with create_sessionmaker(engine)() as session:
        state = await load_state(session)
    stored = await db.fetchval("SELECT fits FROM calibrations ORDER BY id DESC LIMIT 1")
    for name, fit in state.calibration.fits.items():
        assert list(fit.params) == list(FIT_PARAM_ORDER[name])
        assert fit.params == json.loads(stored)[name]["params"]
    await run_batch(engine, settings, as_of=NOW, refit=False)  # the same fits, read back
    for row in await db.fetch("SELECT * FROM customer_scores"):
        before = fresh[row["customer_id"]]
        assert row["p_alive"] == pytest.approx(before["p_alive"], rel=1e-12)
        assert row["clv"] == before["clv"]
        assert row["expected_purchases"] == pytest.approx(before["expected_purchases"], rel=1e-12)
