"""Pareto/NBD: the likelihood against the published hypergeometric form, the gradient against central
differences, the published CDNOW estimates, parameter recovery and the conditional predictions against
simulation."""

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.special import gammaln, hyp2f1

from crm_scoring.clv import _pareto, paretonbd
from crm_scoring.clv.simulate import simulate_paretonbd

DATA = Path(__file__).resolve().parents[1] / "data"


def log_integral_by_hypergeometric(P: float, Q: float, alpha: float, beta: float, lo: float, hi: float) -> float:
    """log of int_lo^hi (alpha+t)^-P (beta+t)^-Q dt in Fader, Hardie & Shang's (2005) closed form: with
    a = P+Q-1, z = |alpha-beta| / (max+t) and b the exponent of the smaller one's factor, it is
    [2F1(a, b; a+1; z(lo)) / (max+lo)^a - 2F1(a, b; a+1; z(hi)) / (max+hi)^a] / a."""
    a = P + Q - 1.0
    big, b = (alpha, Q) if alpha >= beta else (beta, P)
    d = abs(alpha - beta)

    def term(t: float) -> float:
        return math.log(hyp2f1(a, b, a + 1.0, d / (big + t))) - a * math.log(big + t)

    upper, lower = term(lo), term(hi)
    if hi <= lo:
        return -math.inf
    return upper + math.log1p(-math.exp(lower - upper)) - math.log(a)


def loglik_by_hand(r: float, alpha: float, s: float, beta: float, x: float, t_x: float, T: float) -> float:
    """FHS 2005 eq. (22), term by term in plain floats."""
    log_c = math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha) + s * math.log(beta)
    alive = -(r + x) * math.log(alpha + T) - s * math.log(beta + T)
    left = math.log(s) + log_integral_by_hypergeometric(r + x, s + 1.0, alpha, beta, t_x, T)
    return log_c + float(np.logaddexp(alive, left))


X = [0, 1, 4, 2, 30, 7]
TX = [0.0, 3.5, 20.0, 7.25, 60.0, 1.0]
T = [10.0, 12.0, 30.0, 7.25, 61.0, 70.0]  # the fourth bought at "now": t_x == T
POINTS = [
    (0.553, 10.58, 0.606, 11.67),  # CDNOW: alpha and beta close (series)
    (1.5, 10.0, 2.0, 6.0),
    (0.5, 0.7, 3.0, 0.8),
    (0.9, 7.8, 1.4, 94.0),  # beta >> alpha: quadrature for most rows
    (2.0, 900.0, 0.3, 0.05),  # alpha >> beta, far apart
    (0.7, 5.0, 0.7, 5.0),  # alpha == beta: the integral is elementary
]


@pytest.mark.parametrize("params", POINTS)
def test_loglik_matches_the_hypergeometric_form(params) -> None:
    got = paretonbd.log_likelihood(params, X, TX, T)
    want = [loglik_by_hand(*params, x, tx, tt) for x, tx, tt in zip(X, TX, T, strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-9)
    total, _ = paretonbd.log_likelihood_and_grad(params, X, TX, T, weights=[1, 2, 1, 3, 1, 2])
    assert total == pytest.approx(float(np.dot([1, 2, 1, 3, 1, 2], want)), rel=1e-10)


def test_loglik_on_random_rows_matches_the_hypergeometric_form() -> None:
    """Wide parameter ranges (alpha/beta from 1e-4 to 1e4), x up to 100: both evaluation paths."""
    rng = np.random.default_rng(5)
    worst = 0.0
    for _ in range(300):
        r, s = rng.lognormal(0, 1.2, 2)
        alpha, beta = rng.lognormal(1.5, 2.0, 2)
        x = float(rng.integers(0, 100))
        T_ = float(rng.uniform(1, 200))
        t_x = 0.0 if x == 0 else float(rng.uniform(0, T_))
        got = float(paretonbd.log_likelihood((r, alpha, s, beta), [x], [t_x], [T_])[0])
        worst = max(worst, abs(got - loglik_by_hand(r, alpha, s, beta, x, t_x, T_)))
    assert worst < 1e-6


def test_series_and_quadrature_agree_where_both_apply() -> None:
    rng = np.random.default_rng(6)
    for _ in range(50):
        r, s = rng.lognormal(0, 1.0, 2)
        alpha = float(rng.lognormal(1.5, 1.5))
        beta = alpha * float(rng.uniform(0.6, 1.6))
        x = rng.integers(0, 60, 40).astype(float)
        T_ = rng.uniform(1, 150, 40)
        t_x = np.where(x > 0, rng.uniform(0, 1, 40) * T_, 0.0)
        args = (r + x, np.full_like(x, s + 1.0), alpha, beta, t_x, T_)
        series, quadrature = _pareto._by_series(*args), _pareto._by_quadrature(*args)
        for a, b in zip(series, quadrature, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-9)


def _central_difference(f, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    out = np.empty_like(theta)
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = h * max(1.0, abs(theta[i]))
        out[i] = (f(theta + step) - f(theta - step)) / (2 * step[i])
    return out


@pytest.mark.parametrize("params", POINTS)
def test_gradient_matches_finite_differences(params) -> None:
    theta = np.array(params)
    w = np.array([1.0, 2.0, 1.0, 3.0, 1.0, 2.0])
    _, grad = paretonbd.log_likelihood_and_grad(theta, X, TX, T, w)
    numeric = _central_difference(lambda th: paretonbd.log_likelihood_and_grad(th, X, TX, T, w)[0], theta)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


def test_cdnow_matches_the_published_estimates() -> None:
    """Fader, Hardie & Shang (2005) / lifetimes' documentation: r = 0.55, alpha = 10.58, s = 0.61,
    beta = 11.67, log-likelihood -9594.98 on the CDNOW sample (weeks)."""
    d = np.genfromtxt(DATA / "cdnow_customers_summary.csv", delimiter=",", names=True)
    fit = paretonbd.fit(d["frequency"], d["recency"], d["T"])
    assert fit.converged
    assert fit.n_customers == 2357
    assert fit.n_distinct < fit.n_customers
    p = fit.params
    assert p["r"] == pytest.approx(0.553, abs=0.001)
    assert p["alpha"] == pytest.approx(10.578, abs=0.005)
    assert p["s"] == pytest.approx(0.606, abs=0.001)
    assert p["beta"] == pytest.approx(11.669, abs=0.01)
    assert fit.log_likelihood == pytest.approx(-9594.98, abs=0.01)


TRUE = (0.8, 6.0, 1.2, 40.0)  # r, alpha (weeks), s, beta (weeks): mean lifetime ~ 200 weeks
N = 50_000


def _ages(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(104.0, 156.0, N)


def test_recovers_parameters() -> None:
    rng = np.random.default_rng(21)
    sim = simulate_paretonbd(N, TRUE, _ages(rng), seed=rng)
    fit = paretonbd.fit(sim.x, sim.t_x, sim.T)
    assert fit.converged
    np.testing.assert_allclose(fit.values(), TRUE, rtol=0.05)


def test_simulation_matches_the_unconditional_expectation() -> None:
    # Guards the simulator itself: mean repeat purchases by t equals the model's E[X(t)].
    rng = np.random.default_rng(22)
    sim = simulate_paretonbd(N, TRUE, 52.0, seed=rng)
    expected = float(paretonbd.expected_purchases(TRUE, 52.0))
    assert abs(sim.x.mean() - expected) < 0.03 * expected


def test_conditional_predictions_match_what_the_simulated_customers_then_did() -> None:
    rng = np.random.default_rng(23)
    holdout = 39.0
    sim = simulate_paretonbd(N, TRUE, rng.uniform(26.0, 52.0, N), holdout=holdout, seed=rng)
    expected = paretonbd.conditional_expected_purchases(TRUE, holdout, sim.x, sim.t_x, sim.T)
    assert expected.sum() == pytest.approx(sim.holdout.sum(), rel=0.03)
    alive = paretonbd.p_alive(TRUE, sim.x, sim.t_x, sim.T)
    assert alive.mean() == pytest.approx(sim.alive.mean(), abs=0.01)
    quiet = paretonbd.p_no_purchase(TRUE, holdout, sim.x, sim.t_x, sim.T)
    assert quiet.mean() == pytest.approx((sim.holdout == 0).mean(), abs=0.01)
    # Within frequency groups too, not only on average.
    for lo, hi in ((0, 0), (1, 2), (3, 100)):
        group = (sim.x >= lo) & (sim.x <= hi)
        assert expected[group].sum() == pytest.approx(sim.holdout[group].sum(), rel=0.06)


def test_p_alive_is_one_at_the_last_purchase_and_falls_with_silence() -> None:
    p = paretonbd.p_alive(POINTS[0], [3, 3, 3], [20.0, 20.0, 20.0], [20.0, 40.0, 78.0])
    assert p[0] == pytest.approx(1.0)
    assert p[0] > p[1] > p[2] > 0


def test_new_customer_conditional_equals_unconditional_and_s_one_is_continuous() -> None:
    # A customer with x = 0 observed for T = 0 is brand new: E[Y(t) | 0, 0, 0] = E[X(t)].
    for params in POINTS:
        cond = paretonbd.conditional_expected_purchases(params, 26.0, [0], [0.0], [0.0])
        np.testing.assert_allclose(cond, paretonbd.expected_purchases(params, 26.0), rtol=1e-9)
    near = [paretonbd.expected_purchases((0.5, 10.0, s, 12.0), 52.0) for s in (1 - 1e-9, 1.0, 1 + 1e-9)]
    np.testing.assert_allclose(near, near[1], rtol=1e-7)


def test_lifetime_without_drop_out_is_poisson_gamma() -> None:
    # With s/beta -> 0 nobody leaves: the likelihood tends to the NBD's, and P(alive) to 1.
    r, alpha = 0.9, 4.0
    x, T_ = np.array([0.0, 2.0, 5.0]), np.array([10.0, 20.0, 30.0])
    t_x = np.array([0.0, 5.0, 29.0])
    nbd = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + T_)
    got = paretonbd.log_likelihood((r, alpha, 1e-3, 1e5), x, t_x, T_)
    np.testing.assert_allclose(got, nbd, atol=1e-3)
    assert np.all(paretonbd.p_alive((r, alpha, 1e-3, 1e5), x, t_x, T_) > 0.999)
