"""Gamma-Gamma spend model (Colombo & Jiang 1999; Fader, Hardie & Lee 2005, "RFM and CLV").

Each purchase's value z ~ Gamma(p, nu) with customer-level nu ~ Gamma(q, gamma); it is fitted on repeat customers
(x > 0) with m_x = mean spend over their x repeat purchases, whose density given nu is Gamma(p x, nu x).
"""

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, gammaln

from crm_scoring.clv._fit import FitResult, fit_log_params, presample
from crm_scoring.clv.summary import group

FloatArray = NDArray[np.float64]
MODEL = "gammagamma"
PARAM_NAMES = ("p", "q", "gamma")
Params = Sequence[float] | FloatArray  # in PARAM_NAMES order (a fit stores them by name)


def _repeat(x: ArrayLike, m_x: ArrayLike) -> tuple[FloatArray, FloatArray]:
    xa, ma = np.asarray(x, dtype=float), np.asarray(m_x, dtype=float)
    if np.any((xa > 0) & ~(ma > 0)):
        raise ValueError("repeat customers need a positive mean spend m_x")
    return xa, ma


def log_likelihood(params: Params, x: ArrayLike, m_x: ArrayLike) -> FloatArray:
    """Per-customer log density of m_x given x (x > 0 only), marginal over nu."""
    p, q, g = (float(v) for v in params)
    xa, ma = _repeat(x, m_x)
    px = p * xa
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(ma)
        + px * np.log(xa)
        - (px + q) * np.log(g + ma * xa)
    )


def log_likelihood_and_grad(
    params: Params, x: ArrayLike, m_x: ArrayLike, weights: ArrayLike | None = None
) -> tuple[float, FloatArray]:
    p, q, g = (float(v) for v in params)
    xa, ma = _repeat(x, m_x)
    w = np.ones_like(xa) if weights is None else np.asarray(weights, dtype=float)
    px = p * xa
    log_gmx = np.log(g + ma * xa)
    psi_pq = digamma(px + q)
    d_p = xa * (psi_pq - digamma(px) + np.log(ma) + np.log(xa) - log_gmx)
    d_q = psi_pq - digamma(q) + np.log(g) - log_gmx
    d_g = q / g - (px + q) / (g + ma * xa)
    ll = float(np.dot(w, log_likelihood(params, xa, ma)))
    return ll, np.array([np.dot(w, d_p), np.dot(w, d_q), np.dot(w, d_g)])


def fit(x: ArrayLike, m_x: ArrayLike, start: Sequence[float] | None = None) -> FitResult:
    """Fit on the customers with x > 0; others are ignored (their spend is unobserved). `start` (e.g. the
    previous fit) replaces the multi-start."""
    xa, ma = np.asarray(x, dtype=float), np.asarray(m_x, dtype=float)
    keep = xa > 0
    xa, ma = _repeat(xa[keep], ma[keep])
    if start is None and (sample := presample(len(xa))) is not None:
        start = fit(xa[sample], ma[sample]).values()
    rows, weights, _ = group(xa, ma)
    gx, gm = rows[:, 0], rows[:, 1]

    def loglik_grad(theta: FloatArray) -> tuple[float, FloatArray]:
        return log_likelihood_and_grad(theta, gx, gm, weights)

    # E[m] = p gamma / (q - 1): start with q = 3 and match the mean for a couple of shapes p.
    mean = float(np.mean(ma))
    starts: list[Sequence[float]] = [(p0, 3.0, 2.0 * mean / p0) for p0 in (1.0, 5.0)]
    if start is not None:
        starts = [tuple(start)]
    return fit_log_params(MODEL, PARAM_NAMES, loglik_grad, starts, len(xa), len(rows))


def population_mean_spend(params: Params) -> float:
    """E[Z] = p gamma / (q - 1), finite only for q > 1."""
    p, q, g = (float(v) for v in params)
    return p * g / (q - 1) if q > 1 else float("inf")


def conditional_expected_spend(params: Params, x: ArrayLike, m_x: ArrayLike) -> FloatArray:
    """E[M | x, m_x] = (p gamma + p x m_x) / (p x + q - 1): a credibility-weighted mix of the population mean and
    the customer's own mean, trusting the latter more the more purchases it averages. x = 0 -> population mean."""
    p, q, g = (float(v) for v in params)
    xa = np.asarray(x, dtype=float)
    ma = np.where(xa > 0, np.asarray(m_x, dtype=float), 0.0)
    return (p * g + p * xa * ma) / (p * xa + q - 1)
