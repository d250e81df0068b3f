"""Cut points reproduce the batch's base-relative classes exactly for every customer of the base, and place
new values monotonically between them."""

import numpy as np
import pytest

from crm_scoring.value.abc import abc_classes, gold_flags
from crm_scoring.value.cuts import cuts_from_levels, place
from crm_scoring.value.rfm import quintile_scores


def _bases(seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(150):
        n = int(rng.integers(1, 400))
        heavy_ties = rng.random() < 0.5
        values = rng.integers(0, 5, n).astype(float) if heavy_ties else np.round(rng.gamma(1.0, 100.0, n), 0)
        yield values, rng.random(n) < 0.9


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_rfm_quintiles_are_reproduced(higher_is_better: bool) -> None:
    for values, active in _bases(1):
        levels = quintile_scores(values, active, higher_is_better=higher_is_better)
        key = values if higher_is_better else -values
        cuts = cuts_from_levels(key, levels, 5)
        assert (place(key, cuts, active) == levels).all()


def test_abc_and_gold_are_reproduced() -> None:
    for values, _ in _bases(2):
        everyone = np.ones(values.size, dtype=bool)
        cls = abc_classes(values)
        levels = np.select([cls == "A", cls == "B"], [3, 2], 1)
        assert (place(values, cuts_from_levels(values, levels, 3), everyone) == levels).all()
        gold = gold_flags(values).astype(int) + 1
        assert (place(values, cuts_from_levels(values, gold, 2), everyone) == gold).all()


def test_new_values_land_between_the_cuts() -> None:
    base = np.arange(1.0, 11.0)  # scores 1,1,2,2,3,3,4,4,5,5
    levels = quintile_scores(base, np.ones(10, dtype=bool))
    cuts = cuts_from_levels(base, levels, 5)
    assert cuts == [3.0, 5.0, 7.0, 9.0]
    new = np.array([0.5, 2.9, 3.0, 8.5, 100.0, np.nan])
    eligible = np.array([True, True, True, True, True, True])
    assert place(new, cuts, eligible).tolist() == [1, 1, 2, 4, 5, 0]
    assert place(new, cuts, ~eligible).tolist() == [0] * 6
    assert place(new, [None, None], eligible).tolist() == [1, 1, 1, 1, 1, 0]  # levels never reached
