"""Shared algebra of BG/NBD and MBG/NBD, which differ only in when a customer may drop out.

Purchases follow a Poisson process with rate lambda ~ Gamma(r, alpha); after a purchase the customer drops out
with probability p ~ Beta(a, b). BG/NBD allows a drop-out after each REPEAT purchase (shift = 0); MBG/NBD
(Batislam, Denizel & Filiztekin 2007) also after the first purchase (shift = 1). Everything below is written
once with `shift`: the "still alive" beta term is B(a, b + x + shift) and the "dropped after the last
purchase" term is B(a + 1, b + x + shift - 1), present for x > 0 only in BG/NBD.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaln, digamma, gammaln, hyp2f1

from crm_scoring.clv._fit import FitResult, fit_log_params, presample
from crm_scoring.clv.summary import group

FloatArray = NDArray[np.float64]
PARAM_NAMES = ("r", "alpha", "a", "b")
Params = Sequence[float] | FloatArray  # in PARAM_NAMES order (a fit stores them by name)


class _Terms(NamedTuple):
    common: FloatArray  # log Gamma(r+x)/Gamma(r) + r log alpha
    alive: FloatArray  # log of the "alive at T" branch without `common`
    dropped: FloatArray  # log of the "dropped right after t_x" branch (-inf where impossible)
    has_drop: NDArray[np.bool_]


# Distinct purchase counts and each row's position among them: every special function of the likelihood
# depends on the row through x alone, and a base has a few hundred distinct x at most, so they are evaluated
# per distinct x and gathered (a fit does this once for its rows).
XIndex = tuple[FloatArray, NDArray[np.intp]]


def x_index(x: FloatArray) -> XIndex:
    values, inverse = np.unique(x, return_inverse=True)
    return values, inverse.reshape(-1)


def _arrays(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    return np.asarray(x, dtype=float), np.asarray(t_x, dtype=float), np.asarray(T, dtype=float)


def _terms(params: Params, x: FloatArray, t_x: FloatArray, T: FloatArray, shift: int, index: XIndex) -> _Terms:
    r, alpha, a, b = (float(v) for v in params)
    ux, at = index
    has_drop_u = ux > 0 if shift == 0 else np.ones(ux.shape, dtype=bool)
    # Where the dropped branch is impossible (BG/NBD, x = 0) evaluate it at a harmless x so the betaln
    # argument stays positive, then mask it to -inf.
    xd = np.where(has_drop_u, ux, 1.0)
    b_ab = betaln(a, b)
    common = (gammaln(r + ux) - gammaln(r) + r * np.log(alpha))[at]
    alive = (betaln(a, b + ux + shift) - b_ab)[at] - (r + x) * np.log(alpha + T)
    dropped_u = np.where(has_drop_u, betaln(a + 1, b + xd + shift - 1) - b_ab, -np.inf)
    dropped = dropped_u[at] - (r + x) * np.log(alpha + t_x)
    return _Terms(common, alive, dropped, has_drop_u[at])


def log_likelihood(params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, shift: int) -> FloatArray:
    """Per-customer log-likelihood (FHL 2005 eq. 6 for shift = 0)."""
    xa, ta, Ta = _arrays(x, t_x, T)
    tm = _terms(params, xa, ta, Ta, shift, x_index(xa))
    return tm.common + np.logaddexp(tm.alive, tm.dropped)


def log_likelihood_and_grad(
    params: Params,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None,
    shift: int,
    index: XIndex | None = None,
) -> tuple[float, FloatArray]:
    """Weighted total log-likelihood and its analytic gradient w.r.t. (r, alpha, a, b); `index`: x_index(x).

    Every term that depends on the row through x alone enters the sums as (its value per distinct x) times
    (the rows' summed weights per distinct x), so per row only the two logs, the two branches' softmax
    weights and a few products remain."""
    r, alpha, a, b = (float(v) for v in params)
    xa, ta, Ta = _arrays(x, t_x, T)
    ux, at = x_index(xa) if index is None else index
    w = np.ones_like(xa) if weights is None else np.asarray(weights, dtype=float)
    k = ux.size
    has_drop_u = ux > 0 if shift == 0 else np.ones(k, dtype=bool)
    xd = np.where(has_drop_u, ux, 1.0)  # a harmless x where the dropped branch is impossible (masked below)
    b_ab = betaln(a, b)
    alive_u = betaln(a, b + ux + shift) - b_ab
    dropped_u = np.where(has_drop_u, betaln(a + 1, b + xd + shift - 1) - b_ab, -np.inf)

    log_at, log_atx = np.log(alpha + Ta), np.log(alpha + ta)
    rx = r + xa
    alive = alive_u[at] - rx * log_at
    dropped = dropped_u[at] - rx * log_atx
    lse = np.logaddexp(alive, dropped)
    # Softmax weights of the two branches (d log(e^u + e^v) = w_u du + w_v dv), times the row weights.
    wa = w * np.exp(alive - lse)
    wd = w * np.exp(dropped - lse)  # 0 where the branch is impossible (exp(-inf))
    per_x = np.bincount(at, weights=w, minlength=k)
    alive_x = np.bincount(at, weights=wa, minlength=k)
    dropped_x = np.bincount(at, weights=wd, minlength=k)

    top = digamma(a + b + ux + shift)  # a+b+x+shift is the sum of both branches' beta arguments
    total = float(per_x.sum())
    ll = float(np.dot(per_x, gammaln(r + ux))) + total * (r * np.log(alpha) - gammaln(r)) + float(np.dot(w, lse))
    d_r = (
        float(np.dot(per_x, digamma(r + ux)))
        + total * (np.log(alpha) - digamma(r))
        - float(np.dot(wa, log_at))
        - float(np.dot(wd, log_atx))
    )
    d_alpha = total * r / alpha - float(np.dot(rx, wa / (alpha + Ta) + wd / (alpha + ta)))
    d_a = (
        float(np.dot(alive_x, digamma(a) - top) + np.dot(dropped_x, digamma(a + 1) - top))
        - total * (digamma(a) - digamma(a + b))  # d betaln(a, b) / da
    )
    d_b = float(
        np.dot(alive_x, digamma(b + ux + shift) - top) + np.dot(dropped_x, digamma(b + xd + shift - 1) - top)
    ) - total * (digamma(b) - digamma(a + b))
    return ll, np.array([d_r, d_alpha, d_a, d_b])


def fit(
    model: str, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, shift: int, start: Sequence[float] | None = None
) -> FitResult:
    """Maximum likelihood; `start` (e.g. the previous fit on nearly the same base) replaces the multi-start.
    On a large base without a start, the multi-start runs on a random sample and the whole base is then fitted
    from the sample's optimum (see `_fit.presample`)."""
    xa, ta, Ta = _arrays(x, t_x, T)
    if start is None and (sample := presample(len(xa))) is not None:
        start = fit(model, xa[sample], ta[sample], Ta[sample], shift).values()
    rows, weights, _ = group(xa, ta, Ta)
    gx, gt, gT = rows[:, 0], rows[:, 1], rows[:, 2]
    index = x_index(gx)

    def loglik_grad(theta: FloatArray) -> tuple[float, FloatArray]:
        return log_likelihood_and_grad(theta, gx, gt, gT, weights, shift, index)

    # Starts: rate parameters from the moments of x/T (mean rate ~ r/alpha), and a few drop-out shapes
    # (heavy early churn, moderate, rare) because the (a, b) surface can be flat and multi-modal-ish.
    rate = max(float(np.sum(xa) / max(np.sum(Ta), 1e-9)), 1e-3)
    starts: list[Sequence[float]] = [(1.0, 1.0 / rate, a0, b0) for a0, b0 in ((1.0, 1.0), (0.5, 2.0), (2.0, 8.0))]
    if start is not None:
        starts = [tuple(start)]
    return fit_log_params(model, PARAM_NAMES, loglik_grad, starts, len(xa), len(rows))


def p_alive(params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, shift: int) -> FloatArray:
    """P(alive at T | x, t_x, T): the posterior weight of the "alive" branch of the likelihood."""
    xa, ta, Ta = _arrays(x, t_x, T)
    tm = _terms(params, xa, ta, Ta, shift, x_index(xa))
    return np.exp(tm.alive - np.logaddexp(tm.alive, tm.dropped))


def conditional_expected_purchases(
    params: Params, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, shift: int
) -> FloatArray:
    """E[purchases in (T, T+t] | x, t_x, T] (FHL 2005 eq. 10 for shift = 0; b -> b+1 for MBG/NBD, because the
    posterior of p given "alive" gains one more (1-p) factor). Requires a != 1."""
    r, alpha, a, b = (float(v) for v in params)
    xa, ta, Ta = _arrays(x, t_x, T)
    if t <= 0:
        return np.zeros_like(xa)
    z = t / (alpha + Ta + t)
    bb = b + shift
    head = (a + bb + xa - 1) / (a - 1)
    tail = 1.0 - np.exp((r + xa) * np.log((alpha + Ta) / (alpha + Ta + t))) * hyp2f1(
        r + xa, bb + xa, a + bb + xa - 1, z
    )
    return head * tail * p_alive(params, xa, ta, Ta, shift)


def expected_purchases(params: Params, t: ArrayLike, shift: int) -> FloatArray:
    """Unconditional E[X(t)] for a customer who made the first purchase at time 0 (FHL 2005 eq. 7 for
    shift = 0; MBG/NBD multiplies by E[1-p] through b -> b+1)."""
    r, alpha, a, b = (float(v) for v in params)
    ta = np.asarray(t, dtype=float)
    bb = b + shift
    lead = np.exp(betaln(a, bb) - betaln(a, b)) * (a + bb - 1) / (a - 1)
    z = ta / (alpha + ta)
    return lead * (1.0 - (alpha / (alpha + ta)) ** r * hyp2f1(r, bb, a + bb - 1, z))


def p_no_purchase(params: Params, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, shift: int) -> FloatArray:
    """P(no purchase in (T, T+t] | x, t_x, T) = 1 - P(alive) * (1 - E[exp(-lambda t) | alive]).

    Given "alive at T" the history's likelihood factorises, so lambda | alive ~ Gamma(r+x, alpha+T) and an alive
    customer makes no purchase in t with probability ((alpha+T)/(alpha+T+t))^(r+x); a dead one never buys.
    """
    r, alpha, _, _ = (float(v) for v in params)
    xa, ta, Ta = _arrays(x, t_x, T)
    pa = p_alive(params, xa, ta, Ta, shift)
    quiet = np.exp((r + xa) * np.log((alpha + Ta) / (alpha + Ta + t)))
    return 1.0 - pa * (1.0 - quiet)


@dataclass(frozen=True)
class NBDModel:
    """One member of the family, with its `shift` bound: the object the rest of the code calls `bgnbd` or
    `mbgnbd`, so the two models are one piece of code rather than two modules of wrappers."""

    name: str
    shift: int
    PARAM_NAMES: tuple[str, ...] = PARAM_NAMES

    def log_likelihood(self, params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
        return log_likelihood(params, x, t_x, T, self.shift)

    def log_likelihood_and_grad(
        self, params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
    ) -> tuple[float, FloatArray]:
        return log_likelihood_and_grad(params, x, t_x, T, weights, self.shift)

    def fit(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, start: Sequence[float] | None = None) -> FitResult:
        return fit(self.name, x, t_x, T, self.shift, start)

    def p_alive(self, params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
        return p_alive(params, x, t_x, T, self.shift)

    def conditional_expected_purchases(
        self, params: Params, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        return conditional_expected_purchases(params, t, x, t_x, T, self.shift)

    def expected_purchases(self, params: Params, t: ArrayLike) -> FloatArray:
        return expected_purchases(params, t, self.shift)

    def p_no_purchase(self, params: Params, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
        return p_no_purchase(params, t, x, t_x, T, self.shift)


# Fader, Hardie & Lee (2005): a customer can drop out only after a repeat purchase.
bgnbd = NBDModel("bgnbd", shift=0)
# Batislam, Denizel & Filiztekin (2007): also right after the first purchase, so P(alive) < 1 for one-time buyers.
mbgnbd = NBDModel("mbgnbd", shift=1)
MODELS: dict[str, NBDModel] = {m.name: m for m in (bgnbd, mbgnbd)}
