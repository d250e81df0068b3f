"""What the batch decides on the client from the live rows its read saw (compute/prior.py): ids matched exactly,
every material change sent through the exact SQL diff, and live rows no batch row replaces carried over."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from crm_scoring.batch.runner import run_batch
from crm_scoring.compute.cents import NO_CENTS
from crm_scoring.compute.prior import Prior, decide, match
from crm_scoring.compute.swap import NEXT
from crm_scoring.rules.schemas import Changes
from tests.scoring.events import deliver, order_created

NOW = datetime.now(UTC).replace(microsecond=0)


def _ids(raw: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(raw), dtype="V16").copy()


def test_match_is_exact_for_ids_sharing_either_half():
    rng = np.random.default_rng(5)
    half = rng.bytes(8)
    mine = [half + rng.bytes(8) for _ in range(300)] + [rng.bytes(8) + half for _ in range(300)]
    mine += [rng.bytes(16) for _ in range(400)]
    theirs = [mine[i] for i in rng.choice(len(mine), 500, replace=False)] + [half + rng.bytes(8) for _ in range(200)]
    order = rng.permutation(len(theirs))
    theirs = [theirs[i] for i in order]
    got = match(_ids(mine), _ids(theirs))
    expected = {v: i for i, v in enumerate(theirs)}
    assert got.tolist() == [expected.get(v, -1) for v in mine]
    assert (got >= 0).sum() == 500
    ordered = sorted(mine)  # sorted, but with first halves shared: the search must not be taken
    assert match(_ids(ordered), _ids(theirs)).tolist() == [expected.get(v, -1) for v in ordered]


def _changed(new: dict, old: dict, i: int, j: int, ch: Changes) -> bool:
    """compute/write.changed_sql on one pair, in exact decimals (what the SQL diff decides)."""
    d = Decimal
    if abs(d(int(new["composite"][i])) - d(int(old["composite"][j]))) / 100 >= d(repr(ch.composite_points)):
        return True
    nc, oc = new["clv"][i], old["clv"][j]
    if (nc == NO_CENTS) != (oc == NO_CENTS):
        return True
    if nc != NO_CENTS and abs(d(int(nc)) - d(int(oc))) >= d(repr(ch.clv_relative)) * max(abs(d(int(oc))), d(1)):
        return True
    np_, op = new["p_alive"][i], old["p_alive"][j]
    if np.isnan(np_) != np.isnan(op):
        return True
    if not np.isnan(np_) and abs(d(float(np_)) - d(float(op))) >= d(repr(ch.p_alive)):
        return True
    return any(new[k][i] != old[k][j] for k in ("abc", "segment", "gold", "drag", "stage"))


def test_every_material_change_goes_through_the_diff():
    rng = np.random.default_rng(11)
    n = 4000
    ch = Changes(composite_points=1.0, clv_relative=0.05, p_alive=0.05)
    ids = _ids([rng.bytes(16) for _ in range(n)])
    comp = rng.integers(0, 100_000, n)
    clv = rng.integers(1, 1_000_000, n)
    clv[rng.random(n) < 0.05] = NO_CENTS
    p = rng.random(n)
    p[rng.random(n) < 0.05] = np.nan
    old = {
        "customer_id": ids,
        "stage": rng.integers(0, 5, n).astype(np.int16),
        "stage_since": rng.integers(0, 10**15, n),
        "composite": comp,
        "clv": clv,
        "p_alive": p,
        "abc": rng.integers(0, 4, n).astype(np.int16),
        "segment": rng.integers(-1, 11, n).astype(np.int16),
        "gold": rng.random(n) < 0.2,
        "drag": rng.random(n) < 0.1,
    }
    # New figures at, just under and just over each threshold; the discrete fields change now and then.
    step = rng.choice([-1, 0, 1], n)
    new_comp = comp + rng.choice([0, 99, 100, 101, -100, -99], n)
    new_clv = np.where(clv == NO_CENTS, NO_CENTS, clv + np.round(clv * 0.05).astype(np.int64) * step + step)
    new_clv[rng.random(n) < 0.02] = NO_CENTS
    new_p = p + rng.choice([0.0, 0.05, -0.05, 0.0499999, 0.0500001], n)
    stay = rng.random(n) < 0.95
    scored = {
        "customer_id": ids,
        "stage": np.where(stay, old["stage"], (old["stage"] + 1) % 5).astype(np.int16),
        "composite": new_comp / 100.0,
        "clv": np.where(new_clv == NO_CENTS, np.nan, new_clv / 100.0),
        "p_alive": new_p,
        "abc": np.where(stay, old["abc"], 3).astype(np.int16),
        "segment": old["segment"].copy(),
        "gold": old["gold"].copy(),
        "drag": old["drag"].copy(),
    }
    order = rng.permutation(n)  # the live rows come in another order
    prior = Prior({k: v[order] for k, v in old.items()})
    as_of = 123_456_789
    since, diffed, carried = decide(scored, prior, as_of, ch)
    new_cents = {**scored, "composite": new_comp, "clv": new_clv}
    where = np.argsort(order)  # scored row i is live row where[i]
    must = {i for i in range(n) if _changed(new_cents, prior.columns, i, where[i], ch)}
    assert must <= set(diffed.tolist())
    assert len(diffed) < n  # rows far from every threshold stay out
    assert len(carried) == 0
    kept = scored["stage"] == old["stage"]
    assert (since["stage_since"][kept] == old["stage_since"][kept]).all()
    assert (since["stage_since"][~kept] == as_of).all()


def test_new_customers_are_diffed_and_unscored_live_rows_carried():
    rng = np.random.default_rng(2)
    ids = _ids([rng.bytes(16) for _ in range(6)])
    one = np.ones(3, dtype=np.int16)
    live = {
        "customer_id": ids[3:],
        "stage": one,
        "stage_since": np.array([1, 2, 3]),
        "composite": np.zeros(3, dtype=np.int64),
        "clv": np.full(3, NO_CENTS),
        "p_alive": np.full(3, np.nan),
        "abc": one,
        "segment": one,
        "gold": np.zeros(3, bool),
        "drag": np.zeros(3, bool),
    }
    scored = {k: v.copy() for k, v in live.items() if k != "stage_since"}
    scored["customer_id"] = ids[:4]  # 0-2 new, 3 unchanged; live 4 and 5 not scored
    scored["composite"] = np.zeros(4)
    scored["clv"] = np.full(4, np.nan)
    scored["p_alive"] = np.full(4, np.nan)
    for k in ("stage", "abc", "segment"):
        scored[k] = np.ones(4, dtype=np.int16)
    for k in ("gold", "drag"):
        scored[k] = np.zeros(4, bool)
    since, diffed, carried = decide(scored, Prior(live), 99, Changes())
    assert diffed.tolist() == [0, 1, 2]
    assert live["customer_id"][carried].tobytes() == ids[4:].tobytes()
    assert since["stage_since"].tolist() == [99, 99, 99, 1]


async def test_a_live_row_the_batch_does_not_score_is_kept(api, db, engine, settings):
    a, b = uuid.uuid4(), uuid.uuid4()
    await deliver(
        api, order_created(a, NOW - timedelta(days=40), "30.00"), order_created(b, NOW - timedelta(days=9), "12.00")
    )
    await run_batch(engine, settings, as_of=NOW)
    ghost = uuid.uuid4()  # a row with no purchase and no customer behind it (e.g. left by an older version)
    await db.execute(
        "INSERT INTO customer_scores SELECT $2, as_of, first_purchase_at, last_purchase_at, purchase_days, "
        "order_count, total_spend, avg_spend, spend_12m, monthly_frequency, monthly_avg_spend, tenure_months, "
        "recency_days, frequency_trend, spend_trend, r, f, m, rfm_segment, abc_class, gold, drag, composite_score, "
        "formula_version, p_alive, churn_risk, expected_purchases, expected_spend, clv, calibration_id, stage, "
        "stage_reason, stage_since, computed_at - interval '1 day' FROM customer_scores WHERE customer_id = $1",
        a,
        ghost,
    )
    since = await db.fetchval("SELECT stage_since FROM customer_scores WHERE customer_id = $1", b)
    result = await run_batch(engine, settings, as_of=NOW + timedelta(minutes=1))
    assert await db.fetchval("SELECT count(*) FROM customer_scores WHERE customer_id = $1", ghost) == 1
    assert await db.fetchval("SELECT count(*) FROM customer_scores") == 3
    assert result.stats["written"] == 2
    assert await db.fetchval("SELECT stage_since FROM customer_scores WHERE customer_id = $1", b) == since


def test_match_of_sorted_ids_takes_the_search_and_agrees_with_the_sort():
    rng = np.random.default_rng(8)
    raw = sorted({rng.bytes(16) for _ in range(3000)})
    mine = _ids(raw)
    theirs_raw = [raw[i] for i in rng.choice(len(raw), 1200, replace=False)] + [rng.bytes(16) for _ in range(300)]
    theirs = _ids([theirs_raw[i] for i in rng.permutation(len(theirs_raw))])
    searched = match(mine, theirs)
    sorted_together = match(mine[::-1].copy(), theirs)[::-1]  # not sorted: the other way
    assert searched.tolist() == sorted_together.tolist()
    assert (searched >= 0).sum() == 1200
    expected = {v.tobytes(): i for i, v in enumerate(theirs)}
    assert searched.tolist() == [expected.get(v.tobytes(), -1) for v in mine]


async def test_a_run_failing_while_it_builds_changes_nothing_and_the_next_run_clears_up(
    api, db, engine, settings, monkeypatch
):
    """The next table is built in committed steps outside the run's final transaction (compute/swap.py): a
    failure there leaves the live scores, the calibrations and the month's points as they were, and what it
    built is dropped by the next run, which succeeds."""
    from crm_scoring.batch import runner

    ids = [uuid.uuid4() for _ in range(8)]
    await deliver(api, *(order_created(c, NOW - timedelta(days=5 + i), f"{20 + i}.00") for i, c in enumerate(ids)))
    await run_batch(engine, settings, as_of=NOW)
    await deliver(api, order_created(ids[0], NOW - timedelta(days=1), "500.00"))  # rescored by the event
    before = await db.fetch("SELECT * FROM customer_scores ORDER BY customer_id")
    calibrations = await db.fetchval("SELECT count(*) FROM calibrations")
    points = await db.fetch("SELECT customer_id, points, run_id FROM points_ledger ORDER BY customer_id")

    async def broken(conns):
        await conns[0].execute(f"CREATE INDEX broken_next ON {NEXT} (customer_id)")
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(runner, "index_next", broken)
    try:
        await run_batch(engine, settings, as_of=NOW + timedelta(minutes=1))
    except RuntimeError:
        pass
    else:
        raise AssertionError("the run should have failed")
    assert await db.fetchval("SELECT status FROM batch_runs ORDER BY id DESC LIMIT 1") == "failed"
    assert await db.fetch("SELECT * FROM customer_scores ORDER BY customer_id") == before
    assert await db.fetchval("SELECT count(*) FROM calibrations") == calibrations
    assert await db.fetch("SELECT customer_id, points, run_id FROM points_ledger ORDER BY customer_id") == points
    # The failed run dropped what it built: the next table (with the index the failure left on it) and the
    # scratch tables of the score cells and buckets.
    assert await db.fetchval("SELECT to_regclass($1) IS NULL", NEXT)
    assert await db.fetchval("SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_next'") == 0

    # One it could not drop (say its connection was gone) is dropped by the next run.
    await db.execute(f"CREATE TABLE {NEXT} (customer_id uuid)")
    await db.execute(f"CREATE INDEX broken_next ON {NEXT} (customer_id)")
    monkeypatch.undo()
    result = await run_batch(engine, settings, as_of=NOW + timedelta(minutes=2))
    assert result.stats["written"] == len(ids)
    assert await db.fetchval("SELECT to_regclass($1) IS NULL", NEXT)
    assert await db.fetchval("SELECT count(*) FROM pg_indexes WHERE indexname = 'broken_next'") == 0
    assert await db.fetchval("SELECT order_count FROM customer_scores WHERE customer_id = $1", ids[0]) == 2
