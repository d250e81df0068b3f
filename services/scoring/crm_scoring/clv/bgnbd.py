"""BG/NBD purchase model: log-likelihood with analytic gradient, ML fit, P(alive) and expectations.

Parameters are (r, alpha, a, b): purchase rate lambda ~ Gamma(r, alpha), drop-out probability p ~ Beta(a, b).
The algebra is shared with the sibling model in `_nbd.py`; this module fixes the drop-out convention.
"""

from collections.abc import Sequence

from numpy.typing import ArrayLike

from crm_scoring.clv import _nbd
from crm_scoring.clv._fit import FitResult
from crm_scoring.clv._nbd import PARAM_NAMES, FloatArray, Params

__all__ = [
    "MODEL",
    "PARAM_NAMES",
    "conditional_expected_purchases",
    "expected_purchases",
    "fit",
    "log_likelihood",
    "log_likelihood_and_grad",
    "p_alive",
    "p_no_purchase",
]

MODEL = "bgnbd"
_SHIFT = 0


def log_likelihood(params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    return _nbd.log_likelihood(params, x, t_x, T, _SHIFT)


def log_likelihood_and_grad(
    params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
) -> tuple[float, FloatArray]:
    return _nbd.log_likelihood_and_grad(params, x, t_x, T, weights, _SHIFT)


def fit(x: ArrayLike, t_x: ArrayLike, T: ArrayLike, start: Sequence[float] | None = None) -> FitResult:
    return _nbd.fit(MODEL, x, t_x, T, _SHIFT, start)


def p_alive(params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    return _nbd.p_alive(params, x, t_x, T, _SHIFT)


def conditional_expected_purchases(params: Params, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    return _nbd.conditional_expected_purchases(params, t, x, t_x, T, _SHIFT)


def expected_purchases(params: Params, t: ArrayLike) -> FloatArray:
    return _nbd.expected_purchases(params, t, _SHIFT)


def p_no_purchase(params: Params, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    return _nbd.p_no_purchase(params, t, x, t_x, T, _SHIFT)
