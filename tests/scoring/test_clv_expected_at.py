"""Expected purchases over several horizons at once (the CLV's periods, the stored horizons): the same values
as one horizon at a time, for every purchase model."""

import numpy as np
import pytest

from crm_scoring.clv.value import PURCHASE_MODELS

PARAMS = {
    "bgnbd": (0.243, 4.414, 0.793, 2.426),
    "mbgnbd": (0.525, 6.183, 0.891, 1.614),
    "paretonbd": (0.55, 10.58, 0.61, 11.67),
}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_many_horizons_equal_one_at_a_time(name: str) -> None:
    model = PURCHASE_MODELS[name]
    rng = np.random.default_rng(5)
    n = 3_000
    T = rng.integers(1, 80, n).astype(float)  # few distinct (x, T): rows share them with different t_x
    x = rng.integers(0, 12, n).astype(float)
    t_x = np.where(x > 0, rng.uniform(0, 1, n) * T, 0.0)
    ts = [0.0, 4.35, 13.0, 52.0, 104.3]
    at_once = model.conditional_expected_purchases_at(PARAMS[name], ts, x, t_x, T)
    assert len(at_once) == len(ts)
    for t, values in zip(ts, at_once, strict=True):
        one = model.conditional_expected_purchases(PARAMS[name], t, x, t_x, T)
        np.testing.assert_allclose(values, one, rtol=1e-12, atol=0)
    assert not at_once[0].any()
    assert np.all(np.diff(np.stack(at_once), axis=0) >= 0)  # cumulative in t
