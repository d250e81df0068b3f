"""ABC classes, gold and drag flags, Pareto curve: exact results on hand-made fixtures."""

import math

import numpy as np
import pytest

from crm_scoring.value.abc import AbcThresholds, abc_classes, drag_flags, gold_flags, pareto_curve
from crm_scoring.value.errors import FormulaError

# Total 1000. Sorted: 500 200 100 | 80 50 30 | 20 10 10 0; revenue share held by those ranked before:
# 0, 50%, 70% -> A (100 takes the total from 70% to exactly 80% and is still A);
# 80% (exactly on the line -> B), 88%, 93% -> B; 96%, 98%, 98%, 100% -> C.
REVENUE = [10, 500, 0, 80, 200, 30, 10, 100, 50, 20]


def test_abc_default_thresholds_exact() -> None:
    assert abc_classes(REVENUE).tolist() == ["C", "A", "C", "B", "A", "B", "C", "A", "B", "C"]


def test_customer_crossing_the_line_is_still_a() -> None:
    # before: 0, 50%, 75% (< 80%, so the 150 that crosses to 90% is A), 90% -> B.
    assert abc_classes([500, 250, 150, 100]).tolist() == ["A", "A", "A", "B"]


def test_abc_configurable_thresholds() -> None:
    # a = 50%: only 500 (before 0) is A; 200 (before exactly 50%) and 100 (70%) are B; 80 (80%) is C.
    got = abc_classes(REVENUE, AbcThresholds(a=0.5, b=0.3)).tolist()
    assert got == ["C", "A", "C", "C", "B", "C", "C", "B", "C", "C"]


def test_ties_share_a_class() -> None:
    # Without the tie rule the second 30 (before 70%) would be B; equal revenue -> same class as the first of them.
    assert abc_classes([40, 30, 30], AbcThresholds(a=0.5, b=0.3)).tolist() == ["A", "A", "A"]


def test_zero_negative_and_empty_revenue() -> None:
    assert abc_classes([0, 0]).tolist() == ["C", "C"]
    assert abc_classes([100, -50, np.nan]).tolist() == ["A", "C", "C"]
    assert abc_classes([]).tolist() == []


@pytest.mark.parametrize(
    ("a", "b", "field"),
    [(0, 0.1, "a"), (-0.1, 0.5, "a"), (0.5, 0, "b"), (0.8, 0.2, "b"), (0.9, 0.2, "b"), (math.nan, 0.1, "a"),
     (True, 0.1, "a"), ("0.8", 0.1, "a")],
)  # fmt: skip
def test_bad_thresholds_rejected(a: float, b: float, field: str) -> None:
    with pytest.raises(FormulaError) as err:
        AbcThresholds(a=a, b=b)
    assert err.value.term == "abc"
    assert err.value.field == field


def test_gold_top_five_percent() -> None:
    # 40 customers with revenue > 0 -> ceil(2.0) = 2 gold; zero-revenue customers do not count.
    rev = np.concatenate([np.arange(1, 41, dtype=float), np.zeros(10)])
    assert np.flatnonzero(gold_flags(rev)).tolist() == [38, 39]
    # 41 with revenue -> ceil(2.05) = 3.
    assert gold_flags(np.arange(1, 42, dtype=float)).sum() == 3
    # 100 -> exactly 5 (0.05 * 100 is 5.000000000000001 in floats; must not round up to 6).
    assert gold_flags(np.arange(1, 101, dtype=float)).sum() == 5


def test_gold_ties_at_the_cut_are_all_gold() -> None:
    rev = np.array([100.0, 90.0, 90.0, *np.ones(17)])  # 20 customers, share 10% -> k = 2
    assert np.flatnonzero(gold_flags(rev, share=0.1)).tolist() == [0, 1, 2]
    assert not gold_flags(np.zeros(5)).any()
    with pytest.raises(FormulaError):
        gold_flags(rev, share=0)


def test_drag_flags() -> None:
    days = [400, 365, 366, np.nan, 10, 10]
    revenue = [100, 100, 100, 0, 100, 100]
    cost = [np.nan, 50, 0, 10, 150, np.nan]
    # 400 and 366 days -> drag; 365 is not "over" a year; never ordered -> not drag by recency but
    # cost 10 > revenue 0 -> drag; cost 150 > 100 -> drag; unknown cost -> no.
    assert drag_flags(days, revenue, cost).tolist() == [True, False, True, True, True, False]
    assert drag_flags(days, revenue).tolist() == [True, False, True, False, False, False]
    assert drag_flags(days, revenue, max_days=10).tolist() == [True, True, True, False, False, False]


def test_pareto_curve() -> None:
    assert pareto_curve([10, 60, 0, 30], points=5) == [(0.0, 0.0), (0.25, 0.6), (0.5, 0.9), (0.75, 1.0), (1.0, 1.0)]
    # Between whole customers the curve is linear: half of the top customer holds 30%.
    assert pareto_curve([10, 60, 0, 30], points=9)[1] == (0.125, 0.3)
    assert len(pareto_curve(np.arange(1000.0))) == 101
    assert pareto_curve([0, 0], points=3) == [(0.0, 0.0), (0.5, 0.0), (1.0, 0.0)]
    with pytest.raises(FormulaError):
        pareto_curve([1.0], points=1)


def _abc_reference(revenue: list[float], a: float = 0.8, b: float = 0.15) -> list[str]:
    rev = [max(0.0, r) for r in revenue]
    total = sum(rev)
    order = sorted(range(len(rev)), key=lambda i: -rev[i])  # Python's sort is stable
    out = ["C"] * len(rev)
    running = 0.0
    group_before = 0.0
    prev = None
    for i in order:
        if rev[i] != prev:
            group_before, prev = running, rev[i]
        if rev[i] > 0 and group_before < a * total - 1e-9 * total:
            out[i] = "A"
        elif rev[i] > 0 and group_before < (a + b) * total - 1e-9 * total:
            out[i] = "B"
        running += rev[i]
    return out


def test_vectorized_matches_reference_on_100k() -> None:
    rng = np.random.default_rng(7)
    rev = np.round(rng.pareto(1.2, 100_000) * 100, 0)  # integers -> many ties
    rev[rng.random(100_000) < 0.05] = 0
    assert abc_classes(rev).tolist() == _abc_reference(rev.tolist())
    gold = gold_flags(rev)
    k = math.ceil(0.05 * int((rev > 0).sum()))
    cut = sorted(rev[rev > 0].tolist(), reverse=True)[k - 1]
    assert gold.tolist() == [r > 0 and r >= cut for r in rev.tolist()]


def test_classes_and_curve_do_not_depend_on_where_ties_land() -> None:
    """Many tied revenues, shuffled: every customer's class, and the Pareto curve, as on the sorted input."""
    rng = np.random.default_rng(5)
    revenue = rng.integers(0, 40, 50_000).astype(float) * 12.5
    order = rng.permutation(len(revenue))
    classes = abc_classes(revenue)
    np.testing.assert_array_equal(abc_classes(revenue[order]), classes[order])
    np.testing.assert_array_equal(abc_classes(np.sort(revenue)[::-1]), np.sort(classes))
    np.testing.assert_array_equal(pareto_curve(revenue[order]), pareto_curve(revenue))
