"""Shared algebra of BG/NBD and MBG/NBD, which differ only in when a customer may drop out.

Purchases follow a Poisson process with rate lambda ~ Gamma(r, alpha); after a purchase the customer drops out
with probability p ~ Beta(a, b). BG/NBD allows a drop-out after each REPEAT purchase (shift = 0); MBG/NBD
(Batislam, Denizel & Filiztekin 2007) also after the first purchase (shift = 1). Everything below is written
once with `shift`: the "still alive" beta term is B(a, b + x + shift) and the "dropped after the last
purchase" term is B(a + 1, b + x + shift - 1), present for x > 0 only in BG/NBD.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaln, digamma, gammaln, hyp2f1

from crm_scoring.clv._fit import FitResult, Grouped, Start, fit_log_params, presample
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
# per distinct x and gathered (a fit keeps its rows ordered by x instead: `Rows`).
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


class Rows(NamedTuple):
    """A fit's rows, ordered by x, with everything the likelihood needs that does not depend on the parameters.

    The two branches of the likelihood ("alive at T" and "dropped right after t_x") are the two rows of
    (2, ...) arrays, so one NumPy call serves both, and rows with the same x are contiguous, so the terms
    that depend on x alone are evaluated per distinct x and spread or summed by runs. A fit evaluates the
    likelihood dozens of times on about a thousand rows: the fixed cost of each NumPy call sets the time."""

    x: FloatArray  # per row
    ages: FloatArray  # (2, n): T and t_x, where each branch's purchase process ends
    weights: FloatArray  # customers per row
    runs: NDArray[np.intp]  # (k,) rows per distinct x
    starts: NDArray[np.intp]  # (k,) first row of each
    ux: FloatArray  # (k,) distinct x
    per_x: FloatArray  # (k,) customers per distinct x
    total: float  # customers
    beta_a: FloatArray  # (2, 1): the branches' beta functions are B(a + beta_a, b + beta_b) ...
    beta_b: FloatArray  # (2, k) ... with beta_b = (x + shift, x + shift - 1) (a harmless x = 1 where impossible)
    impossible: FloatArray  # (2, k): -inf where a branch cannot happen (BG/NBD drops out only after a repeat)
    x_shift: FloatArray  # (k,) x + shift: a + b + x_shift is the sum of both branches' beta arguments


def prepare(x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None, shift: int) -> Rows:
    xa, ta, Ta = _arrays(x, t_x, T)
    w = np.ones_like(xa) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(xa, kind="stable")  # group() already sorts by x: then this keeps the order
    xa, ta, Ta, w = xa[order], ta[order], Ta[order], w[order]
    ux, starts, runs = np.unique(xa, return_index=True, return_counts=True)
    has_drop = ux > 0 if shift == 0 else np.ones(ux.size, dtype=bool)
    xd = np.where(has_drop, ux, 1.0)
    return Rows(
        x=xa,
        ages=np.stack([Ta, ta]),
        weights=w,
        runs=runs,
        starts=starts,
        ux=ux,
        per_x=np.add.reduceat(w, starts) if xa.size else np.zeros(0),
        total=float(w.sum()),
        beta_a=np.array([[0.0], [1.0]]),
        beta_b=np.stack([ux + shift, xd + shift - 1]),
        impossible=np.stack([np.zeros(ux.size), np.where(has_drop, 0.0, -np.inf)]),
        x_shift=ux + shift,
    )


def loglik_grad(params: Params, d: Rows) -> tuple[float, FloatArray]:
    """Weighted total log-likelihood and its analytic gradient w.r.t. (r, alpha, a, b) on prepared rows.

    Every term that depends on the row through x alone enters the sums as (its value per distinct x) times
    (the rows' summed weights per distinct x), so per row only the two logs, the two branches' posterior
    weights and a few products remain."""
    r, alpha, a, b = (float(v) for v in params)
    # log B(., .) / B(a, b) of both branches per distinct x; per row minus (r + x) log(alpha + age)
    branch_x = betaln(a + d.beta_a, b + d.beta_b) - betaln(a, b) + d.impossible
    shifted = alpha + d.ages
    logs = np.log(shifted)
    rx = r + d.x
    branch = np.repeat(branch_x, d.runs, axis=1) - rx * logs
    # log(e^u + e^v) and the branches' posterior weights (its derivatives in u and v), from the larger branch
    # so that nothing overflows; times the row weights. A branch that cannot happen gets weight 0 (exp(-inf)).
    larger = np.maximum(branch[0], branch[1])
    scaled = np.exp(branch - larger)
    mass = scaled[0] + scaled[1]
    post = scaled * (d.weights / mass)
    per_branch = np.add.reduceat(post, d.starts, axis=1)

    log_alpha, psi_ab = math.log(alpha), float(digamma(a + b))
    psi_sum = digamma(a + b + d.x_shift)
    ll = (
        float(np.dot(d.per_x, gammaln(r + d.ux)))
        + d.total * (r * log_alpha - math.lgamma(r))
        + float(np.dot(d.weights, larger + np.log(mass)))
    )
    d_r = (
        float(np.dot(d.per_x, digamma(r + d.ux)))
        + d.total * (log_alpha - float(digamma(r)))
        - float(np.vdot(post, logs))
    )
    d_alpha = d.total * r / alpha - float(np.sum(np.dot(post / shifted, rx)))
    # d/da log B(a + beta_a, b + beta_b) = psi(a + beta_a) - psi(a + b + x_shift); likewise for b
    d_a = float(np.vdot(per_branch, digamma(a + d.beta_a) - psi_sum)) - d.total * (float(digamma(a)) - psi_ab)
    d_b = float(np.vdot(per_branch, digamma(b + d.beta_b) - psi_sum)) - d.total * (float(digamma(b)) - psi_ab)
    return ll, np.array([d_r, d_alpha, d_a, d_b])


def log_likelihood_and_grad(
    params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None, shift: int
) -> tuple[float, FloatArray]:
    """Weighted total log-likelihood and its analytic gradient w.r.t. (r, alpha, a, b)."""
    return loglik_grad(params, prepare(x, t_x, T, weights, shift))


def fit(
    model: str, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, shift: int, start: Start = None, grouped: Grouped = None
) -> FitResult:
    """Maximum likelihood; `start` (e.g. the previous fit on nearly the same base) replaces the multi-start.
    On a large base without a start, the multi-start runs on a random sample and the whole base is then fitted
    from the sample's optimum (see `_fit.presample`). `grouped`: `group(x, t_x, T)`'s distinct rows and
    weights, when the caller fits several models on the same customers."""
    xa, ta, Ta = _arrays(x, t_x, T)
    if start is None and (sample := presample(len(xa))) is not None:
        start = fit(model, xa[sample], ta[sample], Ta[sample], shift).values()
    distinct, weights = group(xa, ta, Ta)[:2] if grouped is None else grouped
    prepared = prepare(distinct[:, 0], distinct[:, 1], distinct[:, 2], weights, shift)

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        return loglik_grad(theta, prepared)

    # Starts: rate parameters from the moments of x/T (mean rate ~ r/alpha), and a few drop-out shapes
    # (moderate, heavy early churn, rare) because the (a, b) surface can be flat and multi-modal-ish. MBG/NBD
    # screens all three. BG/NBD searches from the first and screens the others only when that ends in doubt
    # (`_fit`): on 600 simulated BG/NBD bases of 30-3,000 customers, parameters drawn over wide ranges, the
    # single search ended lower than the three screened starts twice (72 and 30 customers, the maximum at the
    # box's edge), and never on 120 bases of 3,000-20,000; MBG/NBD's single search did on 3 of ~150 bases of
    # 100-3,000 customers, at interior optima (down to -0.49 in log-likelihood on 473 customers).
    rate = max(float(np.sum(xa) / max(np.sum(Ta), 1e-9)), 1e-3)
    starts: list[Sequence[float]] = [(1.0, 1.0 / rate, a0, b0) for a0, b0 in ((1.0, 1.0), (0.5, 2.0), (2.0, 8.0))]
    others: list[Sequence[float]] = []
    if start is not None:
        starts = [tuple(start)]
    elif shift == 0:
        starts, others = starts[:1], starts[1:]
    return fit_log_params(model, PARAM_NAMES, objective, starts, len(xa), len(distinct), others)


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


def conditional_expected_purchases_at(
    params: Params, ts: Sequence[float], x: ArrayLike, t_x: ArrayLike, T: ArrayLike, shift: int
) -> list[FloatArray]:
    """`conditional_expected_purchases` for each of `ts`, sharing the work: P(alive) once, and the
    hypergeometric term once per distinct (x, T) per t (it does not depend on t_x). At 1M customers the CLV's
    twelve periods and the horizons evaluated hyp2f1 for every distinct (x, t_x, T), ~0.2 s a time; a base
    has far fewer distinct (x, T)."""
    r, alpha, a, b = (float(v) for v in params)
    xa, ta, Ta = _arrays(x, t_x, T)
    if not any(t > 0 for t in ts):
        return [np.zeros_like(xa) for _ in ts]
    pairs, _, inverse = group(xa, Ta)
    px, pT = pairs[:, 0], pairs[:, 1]
    bb = b + shift
    head = (a + bb + xa - 1) / (a - 1) * p_alive(params, xa, ta, Ta, shift)
    out = []
    for t in ts:
        if t <= 0:
            out.append(np.zeros_like(xa))
            continue
        z = t / (alpha + pT + t)
        tail = 1.0 - np.exp((r + px) * np.log((alpha + pT) / (alpha + pT + t))) * hyp2f1(
            r + px, bb + px, a + bb + px - 1, z
        )
        out.append(head * tail[inverse])
    return out


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

    def fit(
        self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, start: Start = None, grouped: Grouped = None
    ) -> FitResult:
        return fit(self.name, x, t_x, T, self.shift, start, grouped)

    def p_alive(self, params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
        return p_alive(params, x, t_x, T, self.shift)

    def conditional_expected_purchases(
        self, params: Params, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        return conditional_expected_purchases(params, t, x, t_x, T, self.shift)

    def conditional_expected_purchases_at(
        self, params: Params, ts: Sequence[float], x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> list[FloatArray]:
        return conditional_expected_purchases_at(params, ts, x, t_x, T, self.shift)

    def expected_purchases(self, params: Params, t: ArrayLike) -> FloatArray:
        return expected_purchases(params, t, self.shift)

    def p_no_purchase(self, params: Params, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
        return p_no_purchase(params, t, x, t_x, T, self.shift)


# Fader, Hardie & Lee (2005): a customer can drop out only after a repeat purchase.
bgnbd = NBDModel("bgnbd", shift=0)
# Batislam, Denizel & Filiztekin (2007): also right after the first purchase, so P(alive) < 1 for one-time buyers.
mbgnbd = NBDModel("mbgnbd", shift=1)
MODELS: dict[str, NBDModel] = {m.name: m for m in (bgnbd, mbgnbd)}
