"""Backtest copies: a backtest asked to keep the scores stores every customer's scores as of its date beside
the run, readable and segmentable like the live ones, and deletable, without touching the live scores."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from crm_scoring.batch.runner import run_batch
from tests.scoring.helpers import finished_run

NOW = datetime.now(UTC).replace(microsecond=0)
AS_OF = NOW - timedelta(days=90)


async def _base(db, customers: int = 40, seed: int = 11) -> dict[uuid.UUID, list[datetime]]:
    """Customers with 1-6 orders over two years; some orders fall after AS_OF."""
    rng = np.random.default_rng(seed)
    orders: dict[uuid.UUID, list[datetime]] = {}
    rows = []
    for _ in range(customers):
        c = uuid.uuid4()
        days = sorted(int(d) for d in rng.choice(730, size=int(rng.integers(1, 7)), replace=False))
        orders[c] = [NOW - timedelta(days=d + 0.5) for d in days]
        rows += [(uuid.uuid4(), c, at, Decimal(f"{rng.gamma(2, 30) + 1:.2f}"), "EUR") for at in orders[c]]
    await db.copy_records_to_table(
        "purchases", records=rows, columns=["order_id", "customer_id", "ordered_at", "amount", "currency"]
    )
    await db.executemany(
        "INSERT INTO known_customers (customer_id, created_at) VALUES ($1, $2)",
        [(c, min(ats) - timedelta(days=1)) for c, ats in orders.items()],
    )
    return orders


async def _all(client, path: str, **params) -> list[dict]:
    items, cursor = [], None
    while True:
        page = await client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def test_a_backtest_keeps_the_scores_of_its_date(api, reader, db):
    orders = await _base(db)
    r = await api.post("/api/v1/scores/recompute", json={"as_of": AS_OF.isoformat(), "keep_scores": True})
    assert r.status_code == 202, r.text
    run = await finished_run(api, r.headers["location"])
    assert run["status"] == "succeeded", run
    assert (run["stored"], run["kept_scores"]) == (False, True)
    assert await db.fetchval("SELECT count(*) FROM customer_scores") == 0  # the live scores are untouched
    copies = f"/api/v1/scores/runs/{run['id']}/customers"

    # Every customer known then, once, paged; each with what it had bought by the run's date.
    known_then = {c for c, ats in orders.items() if min(ats) - timedelta(days=1) <= AS_OF}
    listed = await _all(reader, copies, limit=7, sort="customer_id")
    assert len(orders) > len(known_then) > 0
    assert [x["customer_id"] for x in listed] == sorted(str(c) for c in known_then)
    assert run["stats"]["kept_scores"] == len(known_then)
    for c, ats in orders.items():
        one = await reader.get(f"{copies}/{c}")
        if c not in known_then:
            assert one.status_code == 404
            continue
        assert one.status_code == 200
        body = one.json()
        assert body["order_count"] == sum(at <= AS_OF for at in ats)
        assert datetime.fromisoformat(body["as_of"]) == AS_OF
        assert body["expected_purchases"] is None or set(body["expected_purchases"]) == {"90", "365"}

    # Segment filters and counts work on the copy as on the live list.
    churned = await _all(reader, copies, stage="churned")
    count = (await reader.get(f"{copies}/count", params={"stage": "churned"})).json()["count"]
    assert count == len(churned) == sum(x["stage"] == "churned" for x in listed)
    # A cursor of the copy's list does not page another list.
    first = (await reader.get(copies, params={"limit": 5})).json()
    foreign = await reader.get("/api/v1/scores/customers", params={"limit": 5, "cursor": first["next_cursor"]})
    assert foreign.status_code == 400

    # Deleting the copy needs scores:write; then the run says so and its copy is gone.
    assert (await reader.delete(copies)).status_code == 403
    assert (await api.delete(copies)).status_code == 204
    assert (await api.get(f"/api/v1/scores/runs/{run['id']}")).json()["kept_scores"] is False
    assert (await reader.get(copies)).status_code == 404
    assert await db.fetchval("SELECT count(*) FROM run_scores") == 0


async def test_a_copy_as_of_now_equals_the_live_scores(db, engine, settings):
    await _base(db, customers=60, seed=12)
    live = await run_batch(engine, settings, as_of=NOW)
    kept = await run_batch(engine, settings, as_of=NOW, refit=False, store=False, keep_scores=True)
    assert live.stats["written"] == kept.stats["kept_scores"] == 60
    rows = await db.fetch(
        "SELECT s.*, k.clv AS k_clv, k.p_alive AS k_p_alive, k.composite_score AS k_composite, k.stage AS k_stage, "
        "k.abc_class AS k_abc, k.rfm_segment AS k_rfm, k.expected_purchases AS k_expected "
        "FROM customer_scores s JOIN run_scores k USING (customer_id) WHERE k.run_id = $1",
        kept.run_id,
    )
    assert len(rows) == 60
    for row in rows:
        assert (row["k_stage"], row["k_abc"], row["k_rfm"], row["k_composite"]) == (
            row["stage"],
            row["abc_class"],
            row["rfm_segment"],
            row["composite_score"],
        )
        assert row["k_clv"] == row["clv"]
        assert row["k_p_alive"] == pytest.approx(row["p_alive"], rel=1e-12)
        assert row["k_expected"] == pytest.approx(row["expected_purchases"], rel=1e-12)


async def test_keeping_scores_is_refused_for_a_stored_run(api, db):
    for body in ({"keep_scores": True}, {"keep_scores": True, "store": True}):
        r = await api.post("/api/v1/scores/recompute", json=body)
        assert r.status_code == 422
        assert r.json()["errors"][0]["pointer"] == "#/keep_scores"
    assert await db.fetchval("SELECT count(*) FROM batch_runs") == 0


async def test_copies_of_unknown_runs_and_customers_are_404(api, reader, db):
    await _base(db, customers=3, seed=13)
    assert (await reader.get("/api/v1/scores/runs/999/customers")).status_code == 404
    r = await api.post("/api/v1/scores/recompute", json={"as_of": AS_OF.isoformat()})  # a backtest, no copy
    run = await finished_run(api, r.headers["location"])
    no_copy = await reader.get(f"/api/v1/scores/runs/{run['id']}/customers")
    assert no_copy.status_code == 404
    assert "kept no copy" in no_copy.json()["detail"]
    r = await api.post("/api/v1/scores/recompute", json={"as_of": AS_OF.isoformat(), "keep_scores": True})
    run = await finished_run(api, r.headers["location"])
    missing = await reader.get(f"/api/v1/scores/runs/{run['id']}/customers/{uuid.uuid4()}")
    assert missing.status_code == 404
    bad = await reader.get(f"/api/v1/scores/runs/{run['id']}/customers", params={"stage": "sleeping"})
    assert bad.status_code == 422
