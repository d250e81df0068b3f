"""Score buckets (crm_scoring/distributions/buckets.py): after random events, direct writes, compaction and
batch runs the kept buckets equal a fresh aggregation of customer_scores, and the Pareto curve and the CLV
histogram read from them stay within their stated tolerance of the exact answers computed here."""

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal

import asyncpg
import numpy as np
import pytest

from crm_scoring.batch import runner
from crm_scoring.batch.runner import run_batch
from crm_scoring.compute.write import SCORE_COLUMNS
from crm_scoring.distributions.buckets import BUCKETS_OF, KEY, RATIO, lower_edge
from crm_scoring.distributions.estimates import Bucketed, pareto
from crm_scoring.value.abc import pareto_curve
from tests.scoring.events import deliver, merged, order_adjusted, order_created
from tests.scoring.test_distributions_cells import assert_cells_current

from .helpers import insert_score

NOW = datetime.now(UTC)
URL = "/api/v1/scores/distributions"
KEYS = ", ".join(KEY)
KEPT = f"SELECT {KEYS}, sum(n) AS n, sum(total) AS total, sum(squares) AS squares FROM score_buckets GROUP BY {KEYS}"
STAGES = ("introduction", "growth", "maturity", "decline", "churned")


def _by_key(rows) -> dict[tuple, tuple]:
    return {tuple(r[k] for k in KEY): (r["n"], r["total"], r["squares"]) for r in rows if r["n"] != 0}


async def assert_buckets_current(db: asyncpg.Connection) -> None:
    kept = await db.fetch(KEPT)
    assert _by_key(kept) == _by_key(await db.fetch(BUCKETS_OF.format(table="customer_scores")))
    # a bucket that nets to no customer has nothing left in its sums either
    assert all(r["total"] == 0 and r["squares"] == 0 for r in kept if r["n"] == 0)


async def add_scores(db: asyncpg.Connection, rows: list[tuple[str, str | None, Decimal | None, Decimal]]) -> None:
    """(stage, abc_class, clv, total_spend) customers, in one INSERT statement (a many-row trigger firing)."""
    template = await insert_score(db)
    await db.execute(
        f"""
        INSERT INTO customer_scores ({SCORE_COLUMNS})
        SELECT {", ".join(f"(r).{c}" for c in SCORE_COLUMNS.split(", "))}
        FROM (SELECT jsonb_populate_record(t, jsonb_build_object(
                  'customer_id', gen_random_uuid(), 'stage', u.stage, 'abc_class', u.cls, 'clv', u.clv,
                  'total_spend', u.spend)) AS r
              FROM customer_scores t,
                   unnest($1::text[], $2::text[], $3::numeric[], $4::numeric[]) AS u(stage, cls, clv, spend)
              WHERE t.customer_id = $5) AS made
        """,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        template,
    )
    await db.execute("DELETE FROM customer_scores WHERE customer_id = $1", template)


def _money(x: float) -> Decimal:
    return Decimal(f"{x:.2f}")


def drawn_scores(seed: int, n: int) -> list[tuple[str, str | None, Decimal | None, Decimal]]:
    """Lognormal CLVs and spends with ties, zeros, net refunds, a few negative CLVs and some without a CLV."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        clv = None if rng.random() < 0.1 else _money(rng.lognormal(5, 1.5) * (-1 if rng.random() < 0.03 else 1))
        spend = _money(rng.lognormal(6, 1.2)) if rng.random() < 0.85 else Decimal(rng.choice(["0.00", "-12.50"]))
        if i % 17 == 0:
            clv, spend = Decimal("750.00"), Decimal("1000.00")  # ties
        out.append((str(rng.choice(STAGES)), [None, "A", "B", "C"][i % 4], clv, spend))
    return out


# --- kept equal to the scores ------------------------------------------------------------------------------


async def test_random_events_and_writes_keep_the_buckets_equal_to_a_fresh_aggregation(api, db, engine, settings):
    rng = random.Random(8)
    customers = [uuid.uuid4() for _ in range(25)]
    created: list[dict] = []
    for round_ in range(7):
        events = [
            order_created(c, NOW - timedelta(days=rng.uniform(1, 600)), f"{rng.lognormvariate(4, 1):.2f}")
            for c in rng.choices(customers, k=rng.randint(4, 20))
        ]
        created.extend(events)
        if rng.random() < 0.6:
            events.append(order_adjusted(rng.choice(created), "order.refunded", NOW, refunded_total="1.00"))
        await deliver(api, *events)
        if round_ == 2:
            await run_batch(engine, settings, as_of=NOW)  # classes from here on
        if round_ == 4:
            await deliver(api, merged(customers[0], customers[1]))  # deletes the merged customer's row
        # direct writes that move values inside and across buckets, and to and from null
        await db.execute(
            "UPDATE customer_scores SET clv = CASE WHEN random() < 0.2 THEN NULL"
            " ELSE round((random() * 900)::numeric, 2) END, total_spend = total_spend + 0.01 WHERE random() < 0.5"
        )
        await assert_buckets_current(db)
    assert await db.fetchval("SELECT count(*) FROM customer_scores WHERE abc_class IS NOT NULL") > 0


async def test_writes_that_keep_the_count_and_the_sum_still_change_the_squares(db):
    await add_scores(db, [("growth", "A", Decimal("100.00"), Decimal("100.00"))] * 2)
    ids = [r[0] for r in await db.fetch("SELECT customer_id FROM customer_scores ORDER BY 1")]
    # one goes up and one down by the same amount, both staying in their bucket
    await db.execute("UPDATE customer_scores SET clv = clv + CASE WHEN customer_id = $1 THEN 1 ELSE -1 END", ids[0])
    await assert_buckets_current(db)
    await db.execute("UPDATE customer_scores SET stage_reason = 'nothing charted changes'")
    await db.execute("DELETE FROM customer_scores WHERE customer_id = $1", ids[0])
    await assert_buckets_current(db)


async def test_compaction_folds_the_deltas_without_changing_a_bucket(db):
    await add_scores(db, drawn_scores(3, 200))
    shuffle = "UPDATE customer_scores SET clv = clv + 1, stage = CASE WHEN random() < 0.5 THEN 'growth' ELSE stage END"
    for _ in range(15):
        await db.execute(shuffle)
    distinct_buckets = f"SELECT count(*) FROM (SELECT DISTINCT {', '.join(KEY)} FROM score_buckets) AS b"
    # The trigger also compacts at random (2% of statements): if the last update did, give it deltas again.
    while await db.fetchval("SELECT count(*) FROM score_buckets") == await db.fetchval(distinct_buckets):
        await db.execute(shuffle)
    before = await db.fetchval("SELECT count(*) FROM score_buckets")
    assert await db.fetchval("SELECT score_buckets_compact()")
    await assert_buckets_current(db)
    after = await db.fetch("SELECT * FROM score_buckets")
    assert len(after) < before
    assert len(after) == len({tuple(r[k] for k in KEY) for r in after})  # one row per bucket
    assert all(r["n"] > 0 for r in after)


async def test_the_batch_rebuilds_the_buckets_inside_its_swap(api, db, engine, settings):
    await deliver(api, *(order_created(uuid.uuid4(), NOW - timedelta(days=d), f"{d * 7}.50") for d in range(1, 30)))
    await db.execute("INSERT INTO score_buckets VALUES ('spend', 'growth', 'A', 99, 5, 5, 5)")  # stale
    await run_batch(engine, settings, as_of=NOW)
    rows = await db.fetch("SELECT * FROM score_buckets")
    assert len(rows) == len({tuple(r[k] for k in KEY) for r in rows})  # rebuilt: one row per bucket
    await assert_buckets_current(db)
    # the swapped-in table carries the triggers: later events are still counted
    await deliver(api, order_created(uuid.uuid4(), NOW - timedelta(days=2), "75.00"))
    await assert_buckets_current(db)


async def test_customers_the_swap_catches_up_are_counted_once(api, db, engine, settings, monkeypatch):
    ids = [uuid.uuid4() for _ in range(12)]
    await deliver(api, *(order_created(c, NOW - timedelta(days=9 + i), f"{40 + i}.00") for i, c in enumerate(ids)))
    await run_batch(engine, settings, as_of=NOW)
    real_swap_in = runner.swap_in

    async def events_arrive_then_swap(session, built, **kwargs):
        # the next table and its aggregates are built, the batch's transaction is open: events arrive now
        await deliver(api, order_created(ids[0], NOW - timedelta(hours=1), "900.00"))
        await deliver(api, merged(ids[1], ids[2]))
        await deliver(api, order_created(uuid.uuid4(), NOW - timedelta(hours=2), "15.00"))  # a new customer
        return await real_swap_in(session, built, **kwargs)

    monkeypatch.setattr(runner, "swap_in", events_arrive_then_swap)
    await run_batch(engine, settings, as_of=NOW)
    await assert_buckets_current(db)
    await assert_cells_current(db)
    assert await db.fetchval("SELECT sum(n) FROM score_buckets WHERE measure = 'spend'") == len(ids)


# --- the bucket function and the estimates ----------------------------------------------------------------


async def test_each_value_falls_between_its_buckets_edges(db):
    values = [Decimal(v) for v in ("0.01", "0.02", "0.42", "0.43", "1.00", "9.99", "10.00", "123.45", "99999999.99")]
    for v in values:
        b = await db.fetchval("SELECT score_bucket($1)", v)
        assert lower_edge(b) <= float(v) < lower_edge(b + 1), (v, b)
        assert await db.fetchval("SELECT score_bucket($1)", -v) == -b
        assert lower_edge(b + 1) / lower_edge(b) == pytest.approx(RATIO)
    assert await db.fetchval("SELECT score_bucket(0.00)") == 0
    assert await db.fetchval("SELECT score_bucket(NULL)") is None
    # every cent up to 0.42 has a bucket of its own
    cents = [Decimal(c) / 100 for c in range(1, 44)]
    assert len(set(await db.fetchval("SELECT array_agg(score_bucket(v)) FROM unnest($1::numeric[]) v", cents))) == 43


def _row(bucket: int, values: list[str]) -> dict:
    d = [Decimal(v) for v in values]
    return {"bucket": bucket, "n": len(d), "total": sum(d), "squares": sum(v * v for v in d)}


def test_the_pareto_curve_by_hand():
    # one customer of 100.00 (bucket 401: [100, 102.33)), three of 10.00, 10.05 and 10.10 (bucket 301); 130.15
    buckets = Bucketed.of([_row(401, ["100.00"]), _row(301, ["10.00", "10.05", "10.10"])])
    # top quarter: 100 / 130.15; half: plus a third of 30.15 (the bucket's mean); three quarters: two thirds
    assert pareto(buckets, 5) == [(0.0, 0.0), (0.25, 0.768344), (0.5, 0.845563), (0.75, 0.922781), (1.0, 1.0)]


def test_the_histogram_model_by_hand():
    # two customers (mean 10.1, variance 0.01): exactly 10.0 and 10.2; four equal values (bucket 498): exact
    pair = Bucketed.of([_row(301, ["10.00", "10.20"]), _row(498, ["950.00"] * 4), _row(None, ["0"] * 3)])
    assert (pair.valued, pair.unvalued) == (6, 3)
    assert [pair.order_statistic(k) for k in range(6)] == pytest.approx([10.0, 10.2, 950, 950, 950, 950])
    assert pair.count_below(10.1) == 1
    assert pair.count_below(950.0) == 2
    assert pair.count_below(950.0, inclusive=True) == 6
    # three evenly spaced values (variance 2/3 of the step squared) are placed where they are
    three = Bucketed.of([_row(301, ["10.00", "10.05", "10.10"])])
    assert [three.order_statistic(k) for k in range(3)] == pytest.approx([10.0, 10.05, 10.1])
    assert three.percentile(Decimal("0.5")) == pytest.approx(10.05)
    # spread wider than the bucket allows: kept inside it, centred on the mean
    wide = Bucketed.of([_row(301, ["10.00", "10.00", "10.22"])])
    assert wide.order_statistic(0) >= 10.0 - 1e-9
    assert wide.order_statistic(2) < 10.233


# --- the charts within their tolerance --------------------------------------------------------------------


async def _get(client, chart: str, **params):
    r = await client.get(f"{URL}/{chart}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _chosen(rows, stages=None, classes=None):
    return [r for r in rows if (stages is None or r[0] in stages) and (classes is None or r[1] in classes)]


@pytest.mark.parametrize("stages", [None, ["growth", "decline"]])
async def test_the_pareto_curve_is_within_its_tolerance(reader, db, stages):
    rows = drawn_scores(11, 600)
    await add_scores(db, rows)
    params = {"points": 201} | ({"stage": stages} if stages else {})
    body = await _get(reader, "abc", **params)
    chosen = _chosen(rows, stages)
    assert body["total"] == len(chosen)
    assert Decimal(body["revenue"]) == sum(r[3] for r in chosen)  # exact: from the score cells
    exact = pareto_curve([float(r[3]) for r in chosen], 201)
    for point, (x, y) in zip(body["pareto"], exact, strict=True):
        assert point["customer_share"] == x
        # never above the exact share, and at least the exact share / RATIO
        assert y / RATIO - 1e-6 <= point["revenue_share"] <= y + 1e-6, (x, y, point)
    assert body["pareto"][-1]["revenue_share"] == 1.0


def _p99_up(values: list[Decimal]) -> Decimal:
    a = sorted(values)
    at = Decimal("0.99") * (len(a) - 1)
    k = int(at)
    value = a[k] if k + 1 == len(a) else a[k] + (at - k) * (a[k + 1] - a[k])
    return (value * 100).to_integral_value(rounding=ROUND_CEILING) / 100


def _near(values: list[Decimal], edge: Decimal) -> int:
    """Customers whose CLV is within a factor RATIO of `edge` (those the edge's bucket may hold)."""
    r = Decimal(RATIO)
    if edge == 0:
        return 0
    low, high = sorted((edge / r, edge * r))
    return sum(low <= v <= high for v in values)


@pytest.mark.parametrize(
    ("stages", "classes", "max_clv"),
    [(None, None, None), (None, None, "800"), (["maturity", "growth"], ["A", "B"], None), (["decline"], None, "60")],
)
async def test_the_clv_histogram_is_within_its_tolerance(reader, db, stages, classes, max_clv):
    rows = drawn_scores(5, 600)
    await add_scores(db, rows)
    params = {"bins": 25} | {k: v for k, v in (("stage", stages), ("abc_class", classes), ("max", max_clv)) if v}
    body = await _get(reader, "clv", **params)
    chosen = _chosen(rows, stages, classes)
    values = [r[2] for r in chosen if r[2] is not None]
    assert (body["scored"], body["unscored"]) == (len(values), len(chosen) - len(values))  # exact
    edges = [Decimal(e) for e in body["edges"]]
    assert edges[0] == min(min(values), Decimal("0.00"))  # exact: negative CLVs are read from the index
    shown_max = Decimal(body["max"])
    if max_clv:
        assert shown_max == Decimal(max_clv)
    else:  # within one bucket's width of the exact 99th percentile (rounded up to the cent)
        exact = _p99_up(values)
        assert abs(shown_max - exact) <= exact * Decimal(RATIO - 1) + Decimal("0.01")
    assert sum(body["counts"]) + body["above_max"] == len(values)
    # below each edge: exact but for the customers of the edge's bucket
    below = np.cumsum([0, *body["counts"]])
    for i, edge in enumerate(edges):
        exact_below = sum(v <= edge if i == len(edges) - 1 else v < edge for v in values)
        assert abs(int(below[i]) - exact_below) <= _near(values, edge), (edge, below[i], exact_below)


async def test_clv_range_counts_from_the_buckets_equal_counts_on_the_table(reader, db):
    """Ranges inside one bucket, across many, open on either side, on bucket edges and on tied values,
    with and without stage and class: the count read through the kept buckets is the table's, exactly."""
    rows = drawn_scores(21, 600)
    await add_scores(db, rows)
    rng = random.Random(4)
    values = sorted({r[2] for r in rows if r[2] is not None and r[2] > 0})
    ranges = [("750.00", "750.00"), ("750.00", None), (None, "750.00"), (f"{lower_edge(300):.2f}", None)]
    ranges += [(str(rng.choice(values)), None) for _ in range(3)] + [(None, str(rng.choice(values))) for _ in range(3)]
    ranges += [tuple(sorted((rng.choice(values), rng.choice(values)), key=Decimal)) for _ in range(6)]
    ranges += [("0.01", "0.02"), ("1000000", None), ("10000000000000", None), (None, "99999999999999.99")]
    for low, high in ranges:
        for segment in ({}, {"stage": ["growth", "decline"]}, {"abc_class": "A"}):
            params = segment | {k: str(v) for k, v in (("clv_min", low), ("clv_max", high)) if v is not None}
            where = (
                ["clv IS NOT NULL"] + [f"clv >= {low}"] * (low is not None) + [f"clv <= {high}"] * (high is not None)
            )
            if "stage" in segment:
                where.append("stage IN ('growth', 'decline')")
            if "abc_class" in segment:
                where.append("abc_class = 'A'")
            r = await reader.get("/api/v1/scores/customers/count", params=params)
            assert r.status_code == 200, r.text
            expected = await db.fetchval(f"SELECT count(*) FROM customer_scores WHERE {' AND '.join(where)}")
            assert r.json()["count"] == expected, params


def test_which_counts_read_the_clv_buckets():
    from crm_scoring.scores.repository import _by_clv_buckets
    from crm_scoring.scores.schemas import ScoreFilters

    assert _by_clv_buckets(ScoreFilters(clv_min=Decimal("10"), stage=["growth"], abc_class=["A"]))
    assert _by_clv_buckets(ScoreFilters(clv_max=Decimal("10")))
    assert not _by_clv_buckets(ScoreFilters(clv_min=Decimal("0")))  # zero and negatives: on the table
    assert not _by_clv_buckets(ScoreFilters(clv_min=Decimal("10"), gold=True))  # not a bucket key
    assert not _by_clv_buckets(ScoreFilters(clv_min=Decimal("10"), p_alive_max=0.5))
