"""Each model recovers the parameters it was simulated with, within 5%.

50,000 customers (the issue asks for at least 20,000): at 20,000 the sampling error of the drop-out shape b is
about 2%, which would make a 5% bound fail for an unlucky seed; at 50,000 over two to three years of history it
is about 1%, so the bound checks the estimator, not the seed.
"""

import numpy as np

from crm_scoring.clv import bgnbd, gammagamma, mbgnbd
from crm_scoring.clv.simulate import simulate_bgnbd, simulate_mbgnbd, simulate_spend

N = 50_000
TRUE = (1.0, 5.0, 2.0, 6.0)  # r, alpha (weeks), a, b


def _ages(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(104.0, 156.0, N)  # first purchases spread over a year, observed 2-3 years


def test_bgnbd_recovers_parameters() -> None:
    rng = np.random.default_rng(11)
    sim = simulate_bgnbd(N, TRUE, _ages(rng), seed=rng)
    fit = bgnbd.fit(sim.x, sim.t_x, sim.T)
    assert fit.converged
    np.testing.assert_allclose(fit.values(), TRUE, rtol=0.05)


def test_mbgnbd_recovers_parameters() -> None:
    rng = np.random.default_rng(12)
    sim = simulate_mbgnbd(N, TRUE, _ages(rng), seed=rng)
    fit = mbgnbd.fit(sim.x, sim.t_x, sim.T)
    assert fit.converged
    np.testing.assert_allclose(fit.values(), TRUE, rtol=0.05)


def test_gammagamma_recovers_parameters() -> None:
    true = (6.25, 3.74, 15.44)
    rng = np.random.default_rng(13)
    x = rng.integers(1, 8, 20_000).astype(float)
    m_x = simulate_spend(x, true, seed=rng)
    fit = gammagamma.fit(x, m_x)
    assert fit.converged
    assert fit.n_customers == 20_000
    np.testing.assert_allclose(fit.values(), true, rtol=0.05)


def test_simulation_matches_unconditional_expectation() -> None:
    # Guards the simulator itself: mean repeat purchases by t equals the model's E[X(t)].
    rng = np.random.default_rng(14)
    for simulate, module in ((simulate_bgnbd, bgnbd), (simulate_mbgnbd, mbgnbd)):
        sim = simulate(N, TRUE, 52.0, seed=rng)
        expected = float(module.expected_purchases(TRUE, 52.0))
        assert abs(sim.x.mean() - expected) < 0.03 * expected
