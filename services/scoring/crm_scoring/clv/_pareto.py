"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987): purchases follow a Poisson process with rate
lambda ~ Gamma(r, alpha) while the customer is alive, and the lifetime is exponential with rate mu ~ Gamma(s, beta),
so a customer can leave at any moment, not only right after a purchase as in BG/NBD.

Likelihood (Fader, Hardie & Shang 2005, "A note on deriving the Pareto/NBD model and related expressions"):

    L = Gamma(r+x) alpha^r beta^s / Gamma(r) * [ (alpha+T)^-(r+x) (beta+T)^-s + s I ],
    I = integral over tau in [t_x, T] of (alpha+tau)^-(r+x) (beta+tau)^-(s+1)

The note writes I with Gauss hypergeometric functions 2F1(a, b; a+1; z), z = |alpha-beta| / (max(alpha, beta)+t),
one form for alpha >= beta and another for alpha < beta, as a difference of two terms. Here log I and its
derivatives in all four parameters are computed together (`_integral`): as the difference of two tail integrals
F(lo) - F(hi), each by the Euler-transformed series, whose terms are all positive and shrink at least like z^k,
so it is exact to rounding after log(eps)/log(z) terms; F depends on the row only through its exponents and the
endpoint, so it is summed once per distinct endpoint (one-time buyers all share their lower one, 0) and each to
its own z's precision. Where the lower endpoint's z exceeds 0.9 (one of alpha, beta many times the other,
relative to the customer's age) it is computed by tanh-sinh quadrature in a variable that makes the integrand
nearly flat. Summing per distinct endpoint cut a likelihood evaluation on a 100k-customer sample (78k distinct
rows, 25k distinct endpoints) from 0.15 s to 0.03 s, and Pareto/NBD's fit on it from 3.6 s to 0.8 s. Both work
in log space, so the likelihood is stable for any alpha, beta, and the gradient is that of the integral, not a
finite difference. tests/scoring/test_clv_pareto.py checks both against the hypergeometric form and the gradient
against central differences; tests/scoring/test_refit_parallel.py the series against the quadrature up to z 0.9.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, gammaln

from crm_scoring.clv._fit import FitResult, Grouped, Start, fit_log_params, presample
from crm_scoring.clv.summary import IntArray, group

FloatArray = NDArray[np.float64]
MODEL = "paretonbd"
PARAM_NAMES = ("r", "alpha", "s", "beta")
Params = Sequence[float] | FloatArray  # in PARAM_NAMES order (a fit stores them by name)


def _tanh_sinh(half: int, step: float) -> tuple[FloatArray, FloatArray]:
    """Double-exponential (tanh-sinh) nodes and weights on (0, 1). They crowd towards both ends double
    exponentially, so an integrand with a branch point at or just beyond an end (ours has one at w = 0) is
    still integrated to ~1e-10 with a few dozen nodes, where Gauss-Legendre would converge only slowly."""
    k = np.arange(-half, half + 1) * step
    u = 0.5 * np.pi * np.sinh(k)
    nodes = 1.0 / (1.0 + np.exp(-2.0 * u))
    weights = step * 0.5 * np.pi * np.cosh(k) / (2.0 * np.cosh(u) ** 2)
    keep = weights > 1e-300
    return nodes[keep], weights[keep]


_NODES, _WEIGHTS = _tanh_sinh(20, 0.15)  # 41 nodes: |error of log I| < 1e-6 even with alpha/beta near 1e4
# The series converges like z^k and is summed per endpoint to its own z's precision: up to this z that is at
# most ~390 terms, and only for the few distinct endpoints that far out (a customer's first purchase, shared by
# every one-time buyer); rows whose lower endpoint lies further (alpha and beta thousands of times apart relative
# to the customer's age) are integrated numerically.
_SERIES_MAX_Z = 0.9
_EPS = 1e-17


class _Integral(NamedTuple):
    log_value: FloatArray  # log of the integral (-inf for an empty interval)
    d_p: FloatArray  # d log I / dP  = -E[log(alpha + tau)]
    d_q: FloatArray  # d log I / dQ  = -E[log(beta + tau)]
    d_alpha: FloatArray  # d log I / d alpha = -P E[1 / (alpha + tau)]
    d_beta: FloatArray  # d log I / d beta = -Q E[1 / (beta + tau)]


class Ends(NamedTuple):
    """The distinct endpoints among the rows' lower and upper ones (lo then hi, 2n in all): `first` indexes one
    endpoint of each, `inverse` maps each endpoint to its distinct one. The tail integral from an endpoint
    depends only on (P, Q, endpoint): ~78k rows of a 100k-customer sample have ~25k distinct endpoints (one-time
    buyers share their lower one, 0), so the series runs on those only."""

    first: IntArray
    inverse: IntArray


def distinct_ends(P: ArrayLike, Q: ArrayLike, lo: FloatArray, hi: FloatArray) -> Ends:
    """`P` and `Q` may be any columns that are equal exactly where the exponents are (e.g. x for P = r + x):
    the structure does not depend on the parameters, so a fit computes it once."""
    P2, Q2 = np.broadcast_to(P, lo.shape), np.broadcast_to(Q, lo.shape)
    _, _, inverse = group(np.concatenate([P2, P2]), np.concatenate([Q2, Q2]), np.concatenate([lo, hi]))
    first = np.empty(int(inverse.max()) + 1 if inverse.size else 0, dtype=np.int64)
    first[inverse] = np.arange(inverse.size)
    return Ends(first, inverse)


def _integral(
    P: FloatArray, Q: FloatArray, alpha: float, beta: float, lo: FloatArray, hi: FloatArray, ends: Ends | None = None
) -> _Integral:
    """log of the integral over [lo, hi] of (alpha+tau)^-P (beta+tau)^-Q d tau (P + Q > 1), with its derivatives:
    by series where it converges fast (the usual case: alpha and beta of one order), else by quadrature.
    `ends`: `distinct_ends` of these rows, when the caller has it."""
    z_lo = abs(alpha - beta) / (max(alpha, beta) + lo)
    series = z_lo <= _SERIES_MAX_Z
    if series.all():
        return _by_series(P, Q, alpha, beta, lo, hi, ends)
    if not series.any():
        return _by_quadrature(P, Q, alpha, beta, lo, hi)
    out = list(_by_series(P, Q, alpha, beta, lo, hi, ends))  # NaN on the rows beyond the series' reach
    rows = ~series
    part = _by_quadrature(P[rows], Q[rows], alpha, beta, lo[rows], hi[rows])
    for column, values in zip(out, part, strict=True):
        column[rows] = values
    return _Integral(*out)


def _tails(A: FloatArray, B: FloatArray, M: float, m: float, e: FloatArray) -> tuple[FloatArray, ...]:
    """log F(e) and its derivatives in A, B, M and m at each point, F(e) = integral from e to infinity of
    (M+tau)^-A (m+tau)^-B d tau = (M+e)^-A (m+e)^(1-B) / a * sum_k (A)_k / (a+1)_k z^k, a = A + B - 1,
    z = (M-m)/(M+e) (the Euler transform of the note's 2F1(a, B; a+1; z)). Every term is positive and each is at
    most z times the one before, so a point's sum is exact to rounding after log(eps (1-z))/log(z) terms: the
    points go in order of falling z and term k is added to those that still need it only (a shrinking prefix),
    instead of giving every point the count the largest z needs. NaN where z > _SERIES_MAX_Z."""
    a = A + B - 1.0
    z = (M - m) / (M + e)
    reach = z <= _SERIES_MAX_Z
    with np.errstate(divide="ignore", invalid="ignore"):
        needed = np.where(z > 0, np.ceil(np.log(_EPS * (1.0 - z)) / np.log(np.where(z > 0, z, 0.5))) + 1.0, 1.0)
    needed = np.where(reach, needed, 0.0).astype(np.int64)
    order = np.argsort(-needed, kind="stable")
    A_o, a_o, z_o = A[order], a[order], z[order]
    active = np.searchsorted(-needed[order], -np.arange(1, int(needed.max(initial=0)) + 1), side="right")
    size = e.size
    t = np.ones(size)  # (A)_k / (a+1)_k z^k
    s, s_a, s_b, s_k = np.ones(size), np.zeros(size), np.zeros(size), np.zeros(size)
    h_a, h_b = np.zeros(size), np.zeros(size)  # d log t_k / dA and / dB
    for k, j in enumerate(active):
        # the first j points (in falling z) still need term k + 1
        inv_a1 = 1.0 / (a_o[:j] + 1.0 + k)
        inv_A = 1.0 / (A_o[:j] + k)
        t[:j] *= (A_o[:j] + k) * inv_a1 * z_o[:j]
        h_a[:j] += inv_A - inv_a1
        h_b[:j] -= inv_a1
        s[:j] += t[:j]
        s_a[:j] += t[:j] * h_a[:j]
        s_b[:j] += t[:j] * h_b[:j]
        s_k[:j] += (k + 1) * t[:j]
    back = np.empty_like(order)
    back[order] = np.arange(size)
    s, s_a, s_b, s_k = s[back], s_a[back], s_b[back], s_k[back]
    log_M, log_m = np.log(M + e), np.log(m + e)
    log_f = -A * log_M + (1.0 - B) * log_m + np.log(s) - np.log(a)
    d_A = -log_M + s_a / s - 1.0 / a
    d_B = -log_m + s_b / s - 1.0 / a
    # d log sum / dz = sum k t_k / (z sum); at z = 0 it is the first term's coefficient A / (a+1).
    d_z = np.where(z > 0, s_k / np.where(z > 0, z, 1.0) / s, A / (a + 1.0))
    d_M = -A / (M + e) + d_z * (m + e) / (M + e) ** 2
    d_m = (1.0 - B) / (m + e) - d_z / (M + e)
    return tuple(np.where(reach, v, np.nan) for v in (log_f, d_A, d_B, d_M, d_m))


def _by_series(
    P: FloatArray, Q: FloatArray, alpha: float, beta: float, lo: FloatArray, hi: FloatArray, ends: Ends | None = None
) -> _Integral:
    """The integral over [lo, hi] as F(lo) - F(hi) (`_tails`, M = max(alpha, beta), m the other, A and B their
    exponents), F computed once per distinct endpoint. NaN on rows whose lower endpoint is beyond the series'
    reach (z > _SERIES_MAX_Z: `_integral` integrates those numerically)."""
    alpha_big = alpha >= beta
    M, m = (alpha, beta) if alpha_big else (beta, alpha)
    A, B = (P, Q) if alpha_big else (Q, P)
    n = lo.size
    if ends is None:
        ends = distinct_ends(P, Q, lo, hi)
    at = ends.first
    A2, B2, e2 = np.concatenate([A, A])[at], np.concatenate([B, B])[at], np.concatenate([lo, hi])[at]
    log_f, d_A, d_B, d_M, d_m = (v[ends.inverse] for v in _tails(A2, B2, M, m, e2))
    # I = F(lo) - F(hi) = F(lo) (1 - ratio): the two endpoints' derivatives combine with weights 1 and -ratio.
    ratio = np.exp(log_f[n:] - log_f[:n])
    keep = 1.0 - ratio
    empty = keep <= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_value = np.where(empty, -np.inf, log_f[:n] + np.log(np.where(empty, 1.0, keep)))
    safe = np.where(empty, 1.0, keep)

    def combine(d: FloatArray) -> FloatArray:
        return np.where(empty, 0.0, (d[:n] - ratio * d[n:]) / safe)

    dA, dB, dM, dm = combine(d_A), combine(d_B), combine(d_M), combine(d_m)
    if alpha_big:
        return _Integral(log_value, dA, dB, dM, dm)
    return _Integral(log_value, dB, dA, dm, dM)


def _by_quadrature(
    P: FloatArray, Q: FloatArray, alpha: float, beta: float, lo: FloatArray, hi: FloatArray
) -> _Integral:
    """The substitution w = ((g + tau) / (g + lo))^-e maps [lo, hi] onto [w_hi, 1] and the integrand onto
    (g+lo)^-e / e * rho(w), rho = (g+tau)^(e+1) / ((alpha+tau)^P (beta+tau)^Q). The power law (g+tau)^-(e+1)
    is chosen to match the integrand's log-slope and log-curvature at tau = lo, where its mass sits, so rho
    varies slowly there whichever of the two factors dominates (alpha and beta of one order, or one of them
    thousands of times the other); its decay at the far end (w -> 0) is what the tanh-sinh nodes resolve. The
    derivatives are expectations under the integrand, so they come from the same nodes."""
    u_a, u_b = 1.0 / (alpha + lo), 1.0 / (beta + lo)
    slope = P * u_a + Q * u_b
    e = np.maximum(slope**2 / (P * u_a**2 + Q * u_b**2) - 1.0, 0.25)  # a positive power: rho must stay finite
    g0 = (e + 1.0) / slope  # g + lo
    g = g0 - lo
    span = e * np.log1p((hi - lo) / g0)
    w_hi = np.exp(-span)
    width = -np.expm1(-span)  # 1 - w_hi, exact for short intervals
    w = w_hi[:, None] + width[:, None] * _NODES
    log_g = np.log(g0)[:, None] - np.log(w) / e[:, None]  # log(g + tau) at the nodes
    G = np.exp(log_g)
    to_a, to_b = G + (alpha - g)[:, None], G + (beta - g)[:, None]  # alpha + tau, beta + tau
    la, lb = np.log(to_a), np.log(to_b)
    log_rho = (e + 1.0)[:, None] * log_g - P[:, None] * la - Q[:, None] * lb
    top = np.max(log_rho, axis=1, keepdims=True)
    mass = np.exp(log_rho - top) * _WEIGHTS
    total = mass.sum(axis=1)
    empty = width <= 0
    with np.errstate(divide="ignore"):
        log_value = -e * np.log(g0) - np.log(e) + top[:, 0] + np.log(total * width)
    log_value = np.where(empty, -np.inf, log_value)
    pi = mass / np.where(total > 0, total, 1.0)[:, None]
    return _Integral(
        log_value,
        -np.sum(pi * la, axis=1),
        -np.sum(pi * lb, axis=1),
        -P * np.sum(pi / to_a, axis=1),
        -Q * np.sum(pi / to_b, axis=1),
    )


def _arrays(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    return np.asarray(x, dtype=float), np.asarray(t_x, dtype=float), np.asarray(T, dtype=float)


class _Terms(NamedTuple):
    common: FloatArray  # log Gamma(r+x)/Gamma(r) + r log alpha + s log beta
    alive: FloatArray  # log (alpha+T)^-(r+x) (beta+T)^-s: still alive at T
    left: FloatArray  # log s I: left somewhere in (t_x, T]
    integral: _Integral


def _terms(params: Params, x: FloatArray, t_x: FloatArray, T: FloatArray, ends: Ends | None = None) -> _Terms:
    r, alpha, s, beta = (float(v) for v in params)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    integral = _integral(r + x, np.full_like(x, s + 1.0), alpha, beta, t_x, T, ends)
    return _Terms(common, alive, np.log(s) + integral.log_value, integral)


def log_likelihood(params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Per-customer log-likelihood."""
    tm = _terms(params, *_arrays(x, t_x, T))
    return tm.common + np.logaddexp(tm.alive, tm.left)


def log_likelihood_and_grad(
    params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
) -> tuple[float, FloatArray]:
    """Weighted total log-likelihood and its gradient w.r.t. (r, alpha, s, beta)."""
    xa, ta, Ta = _arrays(x, t_x, T)
    w = np.ones_like(xa) if weights is None else np.asarray(weights, dtype=float)
    return _loglik_grad(params, xa, ta, Ta, w, None)


def _loglik_grad(
    params: Params, xa: FloatArray, ta: FloatArray, Ta: FloatArray, w: FloatArray, ends: Ends | None
) -> tuple[float, FloatArray]:
    r, alpha, s, beta = (float(v) for v in params)
    tm = _terms(params, xa, ta, Ta, ends)
    lse = np.logaddexp(tm.alive, tm.left)
    wa = np.exp(tm.alive - lse)  # P(alive), the softmax weight of the first branch
    wl = np.exp(tm.left - lse)
    i = tm.integral
    d_r = digamma(r + xa) - digamma(r) + np.log(alpha) - wa * np.log(alpha + Ta) + wl * i.d_p
    d_alpha = r / alpha - wa * (r + xa) / (alpha + Ta) + wl * i.d_alpha
    d_s = np.log(beta) - wa * np.log(beta + Ta) + wl * (1.0 / s + i.d_q)
    d_beta = s / beta - wa * s / (beta + Ta) + wl * i.d_beta
    ll = float(np.dot(w, tm.common + lse))
    return ll, np.array([np.dot(w, d_r), np.dot(w, d_alpha), np.dot(w, d_s), np.dot(w, d_beta)])


def fit(x: ArrayLike, t_x: ArrayLike, T: ArrayLike, start: Start = None, grouped: Grouped = None) -> FitResult:
    """Maximum likelihood on the distinct (x, t_x, T) rows, weighted; `start` replaces the multi-start, and a
    large base multi-starts on a sample first (as for the NBD models). `grouped`: `group(x, t_x, T)`'s distinct
    rows and weights, when the caller has them."""
    xa, ta, Ta = _arrays(x, t_x, T)
    if start is None and (sample := presample(len(xa))) is not None:
        start = fit(xa[sample], ta[sample], Ta[sample]).values()
    rows, weights = group(xa, ta, Ta)[:2] if grouped is None else grouped
    gx, gt, gT = rows[:, 0], rows[:, 1], rows[:, 2]
    ends = distinct_ends(gx, 0.0, gt, gT)  # the integral's P = r + x and Q = s + 1: equal where x is

    def loglik_grad(theta: FloatArray) -> tuple[float, FloatArray]:
        return _loglik_grad(theta, gx, gt, gT, weights, ends)

    # One start: the purchase rate from the moments of x/T (mean rate r/alpha) and a drop-out rate of about one
    # per observed lifetime (the mean age sets beta). The likelihood is well behaved around it; a second start
    # with rarer drop-out runs only when the first one fails.
    rate = max(float(np.sum(xa) / max(np.sum(Ta), 1e-9)), 1e-3)
    age = max(float(np.mean(Ta)), 1e-3)
    first = (1.0, 1.0 / rate, 1.0, age) if start is None else tuple(start)
    result = fit_log_params(MODEL, PARAM_NAMES, loglik_grad, [first], len(xa), len(rows))
    if result.converged and np.isfinite(result.log_likelihood):
        return result
    return fit_log_params(
        MODEL, PARAM_NAMES, loglik_grad, [first, (1.0, 1.0 / rate, 1.0, 10.0 * age)], len(xa), len(rows)
    )


def p_alive(params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """P(alive at T | x, t_x, T) = 1 / (1 + s I (alpha+T)^(r+x) (beta+T)^s)."""
    tm = _terms(params, *_arrays(x, t_x, T))
    return np.exp(tm.alive - np.logaddexp(tm.alive, tm.left))


def _power_ratio_term(exponent: float, scale: ArrayLike, t: ArrayLike) -> FloatArray:
    """(1 - (scale / (scale + t))^exponent) / exponent, continuous at exponent = 0 (where it is log(1 + t/scale))."""
    span = np.log1p(np.asarray(t, dtype=float) / np.asarray(scale, dtype=float))
    e = exponent * span
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(np.abs(e) > 1e-12, -np.expm1(-e) / np.where(e == 0, 1.0, e), 1.0)
    return span * factor


def conditional_expected_purchases(params: Params, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """E[purchases in (T, T+t] | x, t_x, T] = (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)]
    P(alive) (Schmittlein et al. 1987; the s -> 1 limit is taken smoothly)."""
    r, alpha, s, beta = (float(v) for v in params)
    xa, ta, Ta = _arrays(x, t_x, T)
    if t <= 0:
        return np.zeros_like(xa)
    scale = beta + Ta
    return (r + xa) / (alpha + Ta) * scale * _power_ratio_term(s - 1.0, scale, t) * p_alive(params, xa, ta, Ta)


def conditional_expected_purchases_at(
    params: Params, ts: Sequence[float], x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> list[FloatArray]:
    """`conditional_expected_purchases` for each of `ts`, with P(alive) (the costly part) computed once."""
    r, alpha, s, beta = (float(v) for v in params)
    xa, ta, Ta = _arrays(x, t_x, T)
    if not any(t > 0 for t in ts):
        return [np.zeros_like(xa) for _ in ts]
    scale = beta + Ta
    head = (r + xa) / (alpha + Ta) * scale * p_alive(params, xa, ta, Ta)
    return [head * _power_ratio_term(s - 1.0, scale, t) if t > 0 else np.zeros_like(xa) for t in ts]


def expected_purchases(params: Params, t: ArrayLike) -> FloatArray:
    """Unconditional E[X(t)] = r beta / (alpha (s-1)) [1 - (beta / (beta+t))^(s-1)] for a customer first seen at 0."""
    r, alpha, s, beta = (float(v) for v in params)
    return r / alpha * beta * _power_ratio_term(s - 1.0, beta, t)


def p_no_purchase(params: Params, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """P(no purchase in (T, T+t] | x, t_x, T) = 1 - P(alive) P(a purchase before leaving, within t | alive).

    Given "alive at T", lambda ~ Gamma(r+x, alpha+T) and mu ~ Gamma(s, beta+T), independent; the first purchase
    comes before the end of life and before T+t with probability E[lambda int_0^t exp(-(lambda+mu) u) du]
    = (r+x) (alpha+T)^(r+x) (beta+T)^s int_T^(T+t) (alpha+tau)^-(r+x+1) (beta+tau)^-s d tau: the likelihood's
    kind of integral, computed the same way."""
    r, alpha, s, beta = (float(v) for v in params)
    xa, ta, Ta = _arrays(x, t_x, T)
    if t <= 0:
        return np.ones_like(xa)
    integral = _integral(r + xa + 1.0, np.full_like(xa, s), alpha, beta, Ta, Ta + t).log_value
    log_buy = np.log(r + xa) + (r + xa) * np.log(alpha + Ta) + s * np.log(beta + Ta) + integral
    return 1.0 - p_alive(params, xa, ta, Ta) * np.minimum(np.exp(log_buy), 1.0)


@dataclass(frozen=True)
class ParetoNBDModel:
    """Pareto/NBD with the same calls as the NBD models (`NBDModel`), so scoring and backtests take either."""

    name: str = MODEL
    PARAM_NAMES: tuple[str, ...] = PARAM_NAMES

    def log_likelihood(self, params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
        return log_likelihood(params, x, t_x, T)

    def log_likelihood_and_grad(
        self, params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
    ) -> tuple[float, FloatArray]:
        return log_likelihood_and_grad(params, x, t_x, T, weights)

    def fit(
        self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, start: Start = None, grouped: Grouped = None
    ) -> FitResult:
        return fit(x, t_x, T, start, grouped)

    def p_alive(self, params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
        return p_alive(params, x, t_x, T)

    def conditional_expected_purchases(
        self, params: Params, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        return conditional_expected_purchases(params, t, x, t_x, T)

    def conditional_expected_purchases_at(
        self, params: Params, ts: Sequence[float], x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> list[FloatArray]:
        return conditional_expected_purchases_at(params, ts, x, t_x, T)

    def expected_purchases(self, params: Params, t: ArrayLike) -> FloatArray:
        return expected_purchases(params, t)

    def p_no_purchase(self, params: Params, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
        return p_no_purchase(params, t, x, t_x, T)


paretonbd = ParetoNBDModel()
