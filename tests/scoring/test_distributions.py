"""Chart data: the lifecycle funnel, ABC with the Pareto curve, the R x F grid with segments and the CLV
histogram, exact on the 12-customer base (the curve and the histogram come from the score buckets, exact when
a bucket holds one or two customers or equal values: test_distributions_buckets.py checks their tolerance),
with filters and bad parameters."""

from decimal import Decimal

import numpy as np
import pytest

from crm_scoring.distributions.buckets import RATIO
from crm_scoring.value.abc import pareto_curve
from crm_scoring.value.rfm import RFM_SEGMENTS_DEFAULT

from .helpers import BASE, insert_score, seed_base

URL = "/api/v1/scores/distributions"


@pytest.fixture
async def base(db):
    await seed_base(db)


async def _get(client, chart, **params):
    r = await client.get(f"{URL}/{chart}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_lifecycle_funnel_in_stage_order(reader, base):
    body = await _get(reader, "lifecycle")
    assert body == {
        "total": 12,
        "stages": [
            {"stage": "introduction", "count": 3, "share": 0.25},
            {"stage": "growth", "count": 2, "share": 0.166667},
            {"stage": "maturity", "count": 3, "share": 0.25},
            {"stage": "decline", "count": 2, "share": 0.166667},
            {"stage": "churned", "count": 2, "share": 0.166667},
        ],
    }


async def test_lifecycle_zero_filled_under_a_filter(reader, base):
    body = await _get(reader, "lifecycle", abc_class="C")
    assert body["total"] == 6
    assert [(s["stage"], s["count"], s["share"]) for s in body["stages"]] == [
        ("introduction", 2, 0.333333),
        ("growth", 0, 0.0),
        ("maturity", 0, 0.0),
        ("decline", 2, 0.333333),
        ("churned", 2, 0.333333),
    ]


async def test_lifecycle_of_an_empty_base(reader):
    body = await _get(reader, "lifecycle")
    assert body["total"] == 0
    assert [s["count"] for s in body["stages"]] == [0] * 5
    assert [s["share"] for s in body["stages"]] == [0.0] * 5


async def test_abc_classes_and_pareto(reader, base, db):
    await insert_score(db, stage="introduction", abc_class=None, total_spend="0.00")  # not classified yet
    body = await _get(reader, "abc", points=5)
    assert body["total"] == 13
    assert body["revenue"] == "10000.00"
    assert body["unclassified"] == 1
    assert body["classes"] == [
        {"class": "A", "count": 3, "share": 0.230769, "revenue": "9000.00", "revenue_share": 0.9, "gold": 2, "drag": 0},
        {"class": "B", "count": 3, "share": 0.230769, "revenue": "900.00", "revenue_share": 0.09, "gold": 0, "drag": 0},
        {"class": "C", "count": 6, "share": 0.461538, "revenue": "100.00", "revenue_share": 0.01, "gold": 0, "drag": 4},
    ]
    # 13 customers, spend 5000, 3000, 1000, 400, 300, 200, 50, 30, 20, then zeros: a quarter of them (3.25)
    # hold 90% + a quarter of the 4th's 4%; half (6.5) hold 99% + half of the 7th's 0.5%; ...
    assert body["pareto"] == [
        {"customer_share": 0.0, "revenue_share": 0.0},
        {"customer_share": 0.25, "revenue_share": 0.91},
        {"customer_share": 0.5, "revenue_share": 0.9925},
        {"customer_share": 0.75, "revenue_share": 1.0},
        {"customer_share": 1.0, "revenue_share": 1.0},
    ]


async def test_pareto_default_points_match_the_curve(reader, base):
    body = await _get(reader, "abc")
    spend = [float(row[-1]) for row in BASE.values()]
    assert len(body["pareto"]) == 101
    assert [(p["customer_share"], p["revenue_share"]) for p in body["pareto"]] == pareto_curve(spend, 101)


async def test_abc_by_stage(reader, base):
    body = await _get(reader, "abc", stage="maturity", points=4)
    assert (body["total"], body["revenue"], body["unclassified"]) == (3, "4400.00", 0)
    assert [(c["class"], c["count"], c["revenue"]) for c in body["classes"]] == [
        ("A", 2, "4000.00"),
        ("B", 1, "400.00"),
        ("C", 0, "0.00"),
    ]
    assert [p["revenue_share"] for p in body["pareto"]] == [0.0, 0.681818, 0.909091, 1.0]


async def test_abc_of_an_empty_base(reader):
    body = await _get(reader, "abc", points=3)
    assert (body["total"], body["revenue"]) == (0, "0.00")
    assert [c["count"] for c in body["classes"]] == [0, 0, 0]
    assert body["pareto"] == [
        {"customer_share": 0.0, "revenue_share": 0.0},
        {"customer_share": 0.5, "revenue_share": 0.0},
        {"customer_share": 1.0, "revenue_share": 0.0},
    ]


SEGMENT_NAMES = [s["name"] for s in RFM_SEGMENTS_DEFAULT]


def _grid(body):
    return {(c["r"], c["f"]): (c["count"], c["mean_m"]) for c in body["cells"] if c["count"]}


async def test_rfm_grid_and_segments(reader, base):
    body = await _get(reader, "rfm")
    assert [(c["r"], c["f"]) for c in body["cells"]] == [(r, f) for r in range(1, 6) for f in range(1, 6)]
    assert _grid(body) == {
        (5, 5): (1, 5.0),
        (4, 5): (1, 5.0),
        (3, 4): (1, 5.0),
        (3, 3): (1, 3.0),
        (5, 1): (2, 1.5),  # customers 5 (m 2) and 12 (m 1)
        (5, 2): (1, 2.0),
        (2, 3): (1, 1.0),
        (2, 1): (1, 1.0),
        (1, 1): (1, 1.0),
        (1, 2): (1, 1.0),
    }
    assert all(c["mean_m"] is None for c in body["cells"] if not c["count"])
    assert (body["scored"], body["unscored"]) == (11, 1)
    counts = {s["segment"]: s["count"] for s in body["segments"]}
    assert [s["segment"] for s in body["segments"]] == [*SEGMENT_NAMES, None]  # rule order, unscored last
    assert counts == {
        "champions": 2,
        "loyal": 2,
        "new_customers": 2,
        "promising": 0,
        "potential_loyalists": 1,
        "need_attention": 0,
        "cannot_lose_them": 0,
        "at_risk": 1,
        "about_to_sleep": 1,
        "hibernating": 1,
        "lost": 1,
        None: 1,
    }


async def test_rfm_filtered(reader, base, db):
    body = await _get(reader, "rfm", stage="introduction")
    assert _grid(body) == {(5, 1): (2, 1.5)}
    assert (body["scored"], body["unscored"]) == (2, 1)
    counts = {s["segment"]: s["count"] for s in body["segments"] if s["count"]}
    assert counts == {"new_customers": 2, None: 1}

    body = await _get(reader, "rfm", stage="maturity", abc_class="A")
    assert _grid(body) == {(4, 5): (1, 5.0), (3, 4): (1, 5.0)}
    assert body["segments"][-1]["segment"] == "lost"  # no unscored customer: no null entry


async def test_rfm_lists_a_segment_the_rules_no_longer_name(reader, base, db):
    await insert_score(db, rfm_segment="legacy_vip", r=5, f=5, m=5)
    body = await _get(reader, "rfm")
    assert [s["segment"] for s in body["segments"]] == [*SEGMENT_NAMES, "legacy_vip", None]


def _histogram(values, edges):
    """What the endpoint must count: edges[i] <= v < edges[i + 1], the last bin closed."""
    counts = [0] * (len(edges) - 1)
    for v in values:
        if v <= edges[-1]:
            counts[min(int(np.searchsorted(edges, v, side="right")) - 1, len(counts) - 1)] += 1
    return counts


CLVS = [Decimal(row[6]) for row in BASE.values() if row[6] is not None]


async def test_clv_histogram_with_max(reader, base):
    body = await _get(reader, "clv", bins=4, max="1000")
    assert body == {
        "edges": ["0.00", "250.00", "500.00", "750.00", "1000.00"],
        "counts": [3, 3, 0, 3],
        "max": "1000.00",
        "scored": 9,
        "above_max": 0,
        "unscored": 3,
    }
    body = await _get(reader, "clv", bins=3, max="750")
    assert body["edges"] == ["0.00", "250.00", "500.00", "750.00"]
    assert body["counts"] == [3, 3, 2]  # 750 is on the last edge: counted in the last bin
    assert (body["above_max"], body["unscored"]) == (1, 3)


async def test_clv_histogram_defaults_to_the_99th_percentile(reader, base):
    body = await _get(reader, "clv")
    # percentile_cont(0.99) of the 9 CLVs: 750 + 0.92 * (900 - 750) = 888
    assert body["max"] == "888.00"
    edges = [Decimal(e) for e in body["edges"]]
    assert edges == [Decimal("44.40") * i for i in range(21)]
    assert body["counts"] == _histogram(CLVS, edges)
    assert sum(body["counts"]) + body["above_max"] == 9
    assert body["above_max"] == 1


def _p99_up(values):
    """percentile_cont(0.99) computed exactly, rounded up to the cent."""
    a = sorted(values)
    at = Decimal("0.99") * (len(a) - 1)
    k = int(at)
    value = a[k] if k + 1 == len(a) else a[k] + (at - k) * (a[k + 1] - a[k])
    return (value * 100).to_integral_value(rounding="ROUND_CEILING") / 100


@pytest.mark.parametrize("n", [1, 2, 7, 101, 250])
async def test_default_max_is_the_99th_percentile_rounded_up(reader, db, n):
    rng = np.random.default_rng(n)
    values = [Decimal(int(c)) / 100 for c in rng.integers(0, 500_000, size=n)]
    for v in values:
        await insert_score(db, clv=v, stage="maturity")
    await insert_score(db, clv="999999.00", stage="decline")  # filtered out below
    body = await _get(reader, "clv", stage="maturity", bins=5)
    # Read from the score buckets: within one bucket's width (a factor RATIO) of the exact value, and exact
    # for a bucket holding one or two customers (as the 1, 2 and 7 customers here).
    exact, shown = _p99_up(values), Decimal(body["max"])
    if n <= 7:
        assert shown == exact
    assert abs(shown - exact) <= exact * Decimal(RATIO - 1) + Decimal("0.01")
    assert sum(body["counts"]) + body["above_max"] == n
    near = sum(shown / Decimal(RATIO) <= v <= shown * Decimal(RATIO) for v in values)
    assert abs(body["above_max"] - sum(v > shown for v in values)) <= near


async def test_clv_histogram_edges_round_to_cents(reader, base):
    body = await _get(reader, "clv", bins=3, max="100")
    assert body["edges"] == ["0.00", "33.33", "66.67", "100.00"]
    edges = [Decimal(e) for e in body["edges"]]
    assert body["counts"] == _histogram(CLVS, edges) == [1, 1, 1]


async def test_clv_histogram_filtered(reader, base):
    body = await _get(reader, "clv", abc_class="C", bins=2, max="100")
    assert (body["counts"], body["scored"], body["unscored"]) == ([1, 2], 3, 3)
    body = await _get(reader, "clv", stage=["maturity", "growth"], bins=2, max="1000")
    assert (body["counts"], body["scored"], body["above_max"]) == ([2, 3], 5, 0)


async def test_clv_histogram_without_any_clv(reader, base):
    body = await _get(reader, "clv", stage="introduction", abc_class="C", bins=4)
    assert body["counts"] == [0, 0, 0, 0]
    assert body["edges"] == ["0.00", "0.01", "0.02", "0.03", "0.04"]  # each bin at least a cent wide
    assert (body["scored"], body["unscored"], body["above_max"]) == (0, 2, 0)


@pytest.mark.parametrize(
    ("chart", "params", "parameter"),
    [
        ("clv", {"bins": "0"}, "bins"),
        ("clv", {"bins": "201"}, "bins"),
        ("clv", {"max": "-5"}, "max"),
        ("clv", {"max": "ten"}, "max"),
        ("clv", {"stage": "asleep"}, "stage"),
        ("abc", {"points": "1"}, "points"),
        ("abc", {"points": "1002"}, "points"),
        ("abc", {"abc_class": "A"}, "abc_class"),  # not a filter of this chart
        ("rfm", {"abc_class": "Z"}, "abc_class"),
        ("rfm", {"bins": "3"}, "bins"),
        ("lifecycle", {"abc_class": ["A", "X"]}, "abc_class"),
    ],
)
async def test_bad_parameters_are_named(reader, chart, params, parameter):
    r = await reader.get(f"{URL}/{chart}", params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert [e["parameter"] for e in r.json()["errors"]] == [parameter]
