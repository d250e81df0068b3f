"""RFM quintile scores, segment mapping and the R x F grid: exact results on hand-made fixtures."""

import math
from typing import Any

import numpy as np
import pytest

from crm_scoring.value.errors import FormulaError
from crm_scoring.value.rfm import (
    RFM_SEGMENTS_DEFAULT,
    quintile_scores,
    rfm_grid,
    rfm_grid_cells,
    rfm_scores,
    segment,
    validate_segments,
)

NAN = math.nan
# 12 customers; #3 has no recency (never bought) and #11 has frequency 0: neither is scored.
RECENCY = [5, 50, 10, NAN, 20, 20, 100, 200, 300, 1, 400, 30]
FREQUENCY = [3, 1, 2, 5, 1, 1, 4, 2, 8, 6, 1, 0]
MONETARY = [300, 20, 150, 999, 40, 60, 500, 150, 900, 700, 10, 0]
# Recency, best first: 1, 5, 10, (20, 20), 50, 100, 200, 300, 400 -> ascending-goodness average ranks
# 400:1 300:2 200:3 100:4 50:5 20:6.5 10:8 5:9 1:10 -> ceil(r/2): 1 1 2 2 3 4 4 5 5.
R = [5, 3, 4, 0, 4, 4, 2, 2, 1, 5, 1, 0]
# Frequency: 1 x4 (avg rank 2.5 -> 2), 2 x2 (5.5 -> 3), 3 (7 -> 4), 4 (8 -> 4), 6 (9 -> 5), 8 (10 -> 5).
F = [4, 2, 3, 0, 2, 2, 4, 3, 5, 5, 2, 0]
# Monetary: 10 20 40 60 (150 150: 5.5) 300 500 700 900 -> 1 1 2 2 3 3 4 4 5 5.
M = [4, 1, 3, 0, 2, 2, 4, 3, 5, 5, 1, 0]


def test_quintiles_distinct_and_ties() -> None:
    active = np.ones(10, dtype=bool)
    assert quintile_scores(np.arange(10.0), active).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # 20 x2 share rank 2.5 -> 2; 40 x3 share rank 6 -> 3; same value always same score.
    vals = [10, 20, 20, 30, 40, 40, 40, 50, 60, 70]
    assert quintile_scores(vals, active).tolist() == [1, 2, 2, 2, 3, 3, 3, 4, 5, 5]
    assert quintile_scores(np.arange(10.0), active, higher_is_better=False).tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    # All equal: average rank (n+1)/2 -> ceil(5 * 5.5 / 10) = 3 for everyone.
    assert quintile_scores([7.0] * 10, np.ones(10, dtype=bool)).tolist() == [3] * 10
    assert quintile_scores([1.0, 2.0], np.zeros(2, dtype=bool)).tolist() == [0, 0]


def test_rfm_scores_exact() -> None:
    r, f, m = rfm_scores(RECENCY, FREQUENCY, MONETARY)
    assert (r.tolist(), f.tolist(), m.tolist()) == (R, F, M)


def test_rfm_active_mask_narrows_the_base() -> None:
    active = np.ones(12, dtype=bool)
    active[[0, 1]] = False
    r, _, _ = rfm_scores(RECENCY, FREQUENCY, MONETARY, active=active)
    assert r[[0, 1, 3, 11]].tolist() == [0, 0, 0, 0]
    assert r[9] == 5  # still the most recent of the remaining 8


def test_default_segments_exact() -> None:
    got = segment(R, F, M).tolist()
    assert got == [
        "champions", "need_attention", "loyal", "", "potential_loyalists", "potential_loyalists",
        "at_risk", "at_risk", "cannot_lose_them", "champions", "hibernating", "",
    ]  # fmt: skip
    assert segment([1, 5, 4, 2], [1, 1, 1, 1], [1, 5, 3, 2]).tolist() == [
        "lost", "new_customers", "promising", "about_to_sleep",
    ]  # fmt: skip


def test_default_mapping_is_valid_and_every_rule_reachable() -> None:
    names, table = validate_segments(RFM_SEGMENTS_DEFAULT)
    used = set(np.unique(table[1:, 1:, 1:]).tolist())
    assert used == set(range(len(names)))
    assert {"champions", "loyal", "at_risk", "hibernating", "lost"} <= set(names)


def test_custom_mapping_is_data() -> None:
    rules = [{"name": "vip", "m": [5, 5]}, {"name": "everyone"}]
    assert segment([1, 3], [1, 3], [5, 4], rules).tolist() == ["vip", "everyone"]


CATCH_ALL: dict[str, Any] = {"name": "rest"}


@pytest.mark.parametrize(
    ("rules", "term", "field"),
    [
        ([], "(segments)", None),
        ("champions", "(segments)", None),
        (["x", CATCH_ALL], "segments[0]", None),
        ([{"name": ""}, CATCH_ALL], "segments[0]", "name"),
        ([{"name": "  "}, CATCH_ALL], "segments[0]", "name"),
        ([{"r": [1, 5]}, CATCH_ALL], "segments[0]", "name"),
        ([{"name": "a", "r": [5, 5]}, {"name": "a"}], "a", "name"),
        ([{"name": "a", "x": [1, 2]}, CATCH_ALL], "a", None),
        ([{"name": "a", "r": [0, 5]}, CATCH_ALL], "a", "r"),
        ([{"name": "a", "f": [3, 2]}, CATCH_ALL], "a", "f"),
        ([{"name": "a", "m": [1, 6]}, CATCH_ALL], "a", "m"),
        ([{"name": "a", "m": 3}, CATCH_ALL], "a", "m"),
        ([{"name": "a", "r": [1.0, 2]}, CATCH_ALL], "a", "r"),
        ([CATCH_ALL, {"name": "late", "r": [5, 5]}], "late", None),
        ([{"name": "only_recent", "r": [4, 5]}], "(segments)", None),
    ],
)
def test_bad_segment_mappings_rejected(rules: Any, term: str, field: str | None) -> None:
    with pytest.raises(FormulaError) as err:
        validate_segments(rules)
    assert (err.value.term, err.value.field) == (term, field)
    with pytest.raises(FormulaError):
        segment([1], [1], [1], rules)


def test_rfm_grid() -> None:
    grid = rfm_grid(R, F)
    assert grid.shape == (5, 5)
    assert grid.sum() == 10  # unscored customers are left out
    assert grid[4 - 1, 2 - 1] == 2  # two customers with R=4, F=2
    assert grid[5 - 1, 5 - 1] == 1
    cells = rfm_grid_cells(R, F)
    assert len(cells) == 25
    assert {"r": 4, "f": 2, "count": 2} in cells


def _reference_scores(values: list[float], active: list[bool], higher_is_better: bool) -> list[int]:
    import bisect

    keys = sorted(v if higher_is_better else -v for v, a in zip(values, active, strict=True) if a)
    n = len(keys)
    out = []
    for v, a in zip(values, active, strict=True):
        if not a:
            out.append(0)
            continue
        k = v if higher_is_better else -v
        less = bisect.bisect_left(keys, k)
        equal = bisect.bisect_right(keys, k) - less
        avg_rank = less + (equal + 1) / 2
        out.append(max(1, math.ceil(5 * avg_rank / n - 1e-12)))
    return out


def _reference_segment(r: int, f: int, m: int) -> str:
    if r == 0:
        return ""
    for rule in RFM_SEGMENTS_DEFAULT:
        if all(rule.get(ax, [1, 5])[0] <= v <= rule.get(ax, [1, 5])[1] for ax, v in (("r", r), ("f", f), ("m", m))):
            return rule["name"]
    raise AssertionError("no rule matched")


def test_vectorized_matches_reference_on_100k() -> None:
    rng = np.random.default_rng(3)
    n = 100_000
    recency = rng.integers(0, 720, n).astype(float)
    frequency = rng.poisson(2, n).astype(float)  # many zeros (unscored) and heavy ties
    monetary = np.round(rng.gamma(2, 80, n), 2)
    recency[rng.random(n) < 0.02] = NAN
    r, f, m = rfm_scores(recency, frequency, monetary)
    active = ((frequency > 0) & np.isfinite(recency)).tolist()
    assert r.tolist() == _reference_scores(recency.tolist(), active, higher_is_better=False)
    assert f.tolist() == _reference_scores(frequency.tolist(), active, higher_is_better=True)
    assert m.tolist() == _reference_scores(monetary.tolist(), active, higher_is_better=True)
    seg = segment(r, f, m).tolist()
    assert seg == [_reference_segment(a, b, c) for a, b, c in zip(r.tolist(), f.tolist(), m.tolist(), strict=True)]
    assert rfm_grid(r, f).sum() == sum(active)
