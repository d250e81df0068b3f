"""Shared fitting machinery: a result record and an L-BFGS-B driver working on log-parameters."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import OptimizeResult, minimize

from crm_scoring.clv._blas import single_thread

FloatArray = NDArray[np.float64]
Start = Sequence[float] | None  # a fit's single start (e.g. the previous fit), None: the model's own starts
Grouped = tuple[FloatArray, FloatArray] | None  # clv.summary.group's distinct rows and weights, when a caller has them
# (natural parameters) -> (weighted total log-likelihood, gradient w.r.t. the natural parameters)
LogLikAndGrad = Callable[[FloatArray], tuple[float, FloatArray]]

# Log-parameter box: keeps every parameter in [6e-6, 1.6e5] so the special functions stay finite while the
# optimizer explores; real fits sit far inside it.
_LOG_BOUND = 12.0
# Several starts are screened with loose tolerances and only the best is searched to the end: a start stops
# well inside its basin (the objective is a mean log-likelihood per customer, so 1e-4 is far below the gap
# between two basins worth telling apart) and the polish reaches the same optimum. On the CDNOW sample a
# BG/NBD fit took 63 likelihood evaluations from three full searches, and 40 screened plus polished, with the
# same estimates to 1e-8.
_SCREEN = (1e-4, 1e-2)  # L-BFGS-B's (ftol, gtol)
_POLISH = (1e-13, 1e-9)
# Alternative starts (`fit_log_params(alternatives=...)`) are screened only when the search from the starts
# ends in doubt: not converged, or with a parameter within this much of the log-box's edge, where the
# likelihood is a flat ridge (e.g. the drop-out undetermined) and another start may end higher. On the CDNOW
# sample BG/NBD's search from its first start takes 20 evaluations to the same optimum (see `_nbd.fit`).
_DOUBT_MARGIN = 3.0
# A search that ends on a failed line search where the gradient (per customer, in log-parameters) is already
# this small has stopped at the optimum, on the objective's rounding noise: converged.
_STATIONARY = 1e-6


# A multi-start on the whole of a large base spends most of its time far from the optimum. Above this many
# customers the starts run on a fixed-seed random sample (a quarter of the base, PRESAMPLE_MIN to PRESAMPLE_MAX
# customers), and one local search on the whole base polishes the sample's optimum (the result is still the
# whole base's maximum-likelihood estimate). On the CDNOW history (23,570 customers) a BG/NBD fit took 60
# likelihood evaluations on the whole base from three starts, then 3 x 20 on a quarter of it plus 17, and now
# (one start, `_nbd.fit`) 19 on the quarter plus 16.
PRESAMPLE_MIN = 5_000
PRESAMPLE_MAX = 50_000
PRESAMPLE_ABOVE = 4 * PRESAMPLE_MIN


def presample(n: int) -> NDArray[np.int64] | None:
    """Indices of the sample to multi-start on, or None when the base is small enough to use whole."""
    if n <= PRESAMPLE_ABOVE:
        return None
    size = min(PRESAMPLE_MAX, max(PRESAMPLE_MIN, n // 4))
    return np.sort(np.random.default_rng(0).choice(n, size, replace=False))


@dataclass(frozen=True)
class FitResult:
    """What a maximum-likelihood fit produced, kept so that scores can be traced back to their fit."""

    model: str
    params: dict[str, float]
    log_likelihood: float
    converged: bool
    iterations: int
    n_customers: int
    n_distinct: int
    message: str = ""

    def values(self) -> tuple[float, ...]:
        return tuple(self.params.values())


def _converged(res: OptimizeResult) -> bool:
    return bool(res.success) or float(np.max(np.abs(res.jac))) < _STATIONARY


def fit_log_params(
    model: str,
    names: Sequence[str],
    loglik_grad: LogLikAndGrad,
    starts: Sequence[Sequence[float]],
    n_customers: int,
    n_distinct: int,
    alternatives: Sequence[Sequence[float]] = (),
) -> FitResult:
    """Maximise the log-likelihood over log(parameters): screen the starts, search on from the best; if that
    ends in doubt, screen the alternatives too and keep the higher of the two optima.

    Working in log-space enforces positivity without active bounds, and dividing by the sample size keeps
    the objective O(1) so L-BFGS-B's default tolerances mean the same thing for 2,000 or 2,000,000 customers.
    """
    scale = 1.0 / max(n_customers, 1)

    def objective(log_theta: FloatArray) -> tuple[float, FloatArray]:
        theta = np.exp(log_theta)
        ll, grad = loglik_grad(theta)
        if not math.isfinite(ll) or not np.isfinite(grad).all():
            return 1e10, np.zeros_like(log_theta)
        # chain rule: d/d log(theta) = theta * d/d theta
        return -ll * scale, grad * theta * -scale

    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(names)

    def search(log_start: FloatArray, tolerances: tuple[float, float]) -> OptimizeResult:
        ftol, gtol = tolerances
        return minimize(
            objective,
            log_start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 2000, "ftol": ftol, "gtol": gtol},
        )

    def screened_and_polished(group: Sequence[Sequence[float]]) -> OptimizeResult:
        logs = [np.log(np.asarray(start, dtype=float)) for start in group]
        if len(logs) > 1:
            logs = [min((search(log_start, _SCREEN) for log_start in logs), key=lambda res: float(res.fun)).x]
        return search(logs[0], _POLISH)

    with single_thread():
        best = screened_and_polished(starts)
        if alternatives and (not _converged(best) or float(np.max(np.abs(best.x))) > _LOG_BOUND - _DOUBT_MARGIN):
            best = min(best, screened_and_polished(alternatives), key=lambda res: float(res.fun))
    theta = np.exp(best.x)
    return FitResult(
        model=model,
        params={name: float(v) for name, v in zip(names, theta, strict=True)},
        log_likelihood=float(-best.fun / scale),
        converged=_converged(best),
        iterations=int(best.nit),
        n_customers=int(n_customers),
        n_distinct=int(n_distinct),
        message=str(best.message),
    )
