"""Log-likelihoods against values computed here from the closed forms; analytic gradients against central
differences, for BG/NBD, MBG/NBD and Gamma-Gamma."""

import math

import numpy as np
import pytest

from crm_scoring.clv import bgnbd, gammagamma, mbgnbd

X = [0, 1, 4, 2]
TX = [0.0, 3.5, 20.0, 7.25]
T = [10.0, 12.0, 30.0, 7.25]  # last customer bought at "now": t_x == T


def lbeta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def nbd_loglik_by_hand(r: float, alpha: float, a: float, b: float, x: int, t_x: float, T: float, mbg: bool) -> float:
    """FHL 2005 eq. 6 (BG/NBD) and Batislam et al. 2007 (MBG/NBD), term by term in plain floats."""
    rate = math.exp(math.lgamma(r + x) - math.lgamma(r)) * alpha**r
    if mbg:
        alive = math.exp(lbeta(a, b + x + 1) - lbeta(a, b)) * rate / (alpha + T) ** (r + x)
        dropped = math.exp(lbeta(a + 1, b + x) - lbeta(a, b)) * rate / (alpha + t_x) ** (r + x)
    else:
        alive = math.exp(lbeta(a, b + x) - lbeta(a, b)) * rate / (alpha + T) ** (r + x)
        dropped = 0.0
        if x > 0:
            dropped = math.exp(lbeta(a + 1, b + x - 1) - lbeta(a, b)) * rate / (alpha + t_x) ** (r + x)
    return math.log(alive + dropped)


def gg_loglik_by_hand(p: float, q: float, g: float, x: int, m: float) -> float:
    log_c = math.lgamma(p * x + q) - math.lgamma(p * x) - math.lgamma(q)
    return log_c + q * math.log(g) + (p * x - 1) * math.log(m) + p * x * math.log(x) - (p * x + q) * math.log(g + m * x)


NBD_POINTS = [(0.243, 4.414, 0.793, 2.426), (1.5, 10.0, 2.0, 6.0), (0.5, 0.7, 3.0, 0.8)]


@pytest.mark.parametrize(("module", "mbg"), [(bgnbd, False), (mbgnbd, True)])
@pytest.mark.parametrize("params", NBD_POINTS)
def test_nbd_loglik_matches_hand_computation(module, mbg: bool, params) -> None:
    got = module.log_likelihood(params, X, TX, T)
    want = [nbd_loglik_by_hand(*params, x, tx, tt, mbg) for x, tx, tt in zip(X, TX, T, strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    total, _ = module.log_likelihood_and_grad(params, X, TX, T, weights=[1, 2, 1, 3])
    assert total == pytest.approx(float(np.dot([1, 2, 1, 3], want)), rel=1e-12)


def _central_difference(f, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    out = np.empty_like(theta)
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = h * max(1.0, abs(theta[i]))
        out[i] = (f(theta + step) - f(theta - step)) / (2 * step[i])
    return out


@pytest.mark.parametrize("module", [bgnbd, mbgnbd])
@pytest.mark.parametrize("params", NBD_POINTS)
def test_nbd_gradient_matches_finite_differences(module, params) -> None:
    theta = np.array(params)
    w = np.array([1.0, 2.0, 1.0, 3.0])
    _, grad = module.log_likelihood_and_grad(theta, X, TX, T, w)
    numeric = _central_difference(lambda th: module.log_likelihood_and_grad(th, X, TX, T, w)[0], theta)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7)


GG_X = [1, 2, 5]
GG_M = [12.5, 40.0, 22.1]


@pytest.mark.parametrize("params", [(6.25, 3.74, 15.44), (1.0, 2.0, 3.0), (0.4, 8.0, 100.0)])
def test_gammagamma_loglik_and_gradient(params) -> None:
    got = gammagamma.log_likelihood(params, GG_X, GG_M)
    want = [gg_loglik_by_hand(*params, x, m) for x, m in zip(GG_X, GG_M, strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    theta = np.array(params)
    _, grad = gammagamma.log_likelihood_and_grad(theta, GG_X, GG_M)
    numeric = _central_difference(lambda th: gammagamma.log_likelihood_and_grad(th, GG_X, GG_M)[0], theta)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7)


def test_p_alive_matches_closed_form() -> None:
    r, alpha, a, b = NBD_POINTS[0]
    x, t_x, t = np.array(X, float), np.array(TX), np.array(T)
    ratio = ((alpha + t) / (alpha + t_x)) ** (r + x)
    bg = np.where(x > 0, 1 / (1 + a / np.maximum(b + x - 1, 1e-9) * ratio), 1.0)
    mbg = 1 / (1 + a / (b + x) * ratio)
    np.testing.assert_allclose(bgnbd.p_alive(NBD_POINTS[0], x, t_x, t), bg, rtol=1e-12)
    np.testing.assert_allclose(mbgnbd.p_alive(NBD_POINTS[0], x, t_x, t), mbg, rtol=1e-12)


def test_conditional_expectation_for_new_customer_equals_unconditional() -> None:
    # A customer with x = 0 observed for T = 0 is a brand-new customer: E[Y(t) | 0, 0, 0] = E[X(t)].
    for module in (bgnbd, mbgnbd):
        for params in NBD_POINTS:
            cond = module.conditional_expected_purchases(params, 26.0, [0], [0.0], [0.0])
            np.testing.assert_allclose(cond, module.expected_purchases(params, 26.0), rtol=1e-9)


@pytest.mark.parametrize("module", [bgnbd, mbgnbd])
def test_nbd_total_stays_finite_where_one_branch_outweighs_the_other_beyond_exp_range(module) -> None:
    # 300 purchases by week 1, then 1,000 quiet weeks: the "dropped" branch exceeds the "alive" one by
    # ~e^1740, far beyond a double's range; the total is computed from the larger branch and stays exact.
    x, t_x, T = [300, 0, 3], [1.0, 0.0, 2.0], [1000.0, 5.0, 9.0]
    params = (0.5, 2.0, 1.2, 3.0)
    total, grad = module.log_likelihood_and_grad(params, x, t_x, T, weights=[1, 4, 2])
    want = float(np.dot([1, 4, 2], module.log_likelihood(params, x, t_x, T)))
    assert total == pytest.approx(want, rel=1e-12)
    assert np.all(np.isfinite(grad))
