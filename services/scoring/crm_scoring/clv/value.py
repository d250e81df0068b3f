"""Per-customer value and churn scores from fitted purchase and spend models.

Churn signal: use MBG/NBD, not BG/NBD. BG/NBD's P(alive) is exactly 1 for every customer without a repeat
purchase (usually the majority), so its 1 - P(alive) cannot tell one-time buyers who left from those who
did not. On calibration/holdout simulations (tests/scoring/test_clv_holdout.py) MBG/NBD's churn risk ranks
customers who then buy nothing at least as well as days-since-last-purchase, and `p_no_purchase` over the
holdout horizon ranks them best, because it also accounts for slow-but-alive customers.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from crm_scoring.clv import gammagamma
from crm_scoring.clv._fit import FitResult
from crm_scoring.clv._nbd import NBDModel, bgnbd, mbgnbd
from crm_scoring.clv._pareto import ParetoNBDModel, paretonbd
from crm_scoring.clv.simulate import simulate_bgnbd, simulate_mbgnbd, simulate_spend
from crm_scoring.clv.summary import group

FloatArray = NDArray[np.float64]
PurchaseModel = NBDModel | ParetoNBDModel
PURCHASE_MODELS: dict[str, PurchaseModel] = {m.name: m for m in (bgnbd, mbgnbd, paretonbd)}
__all__ = [
    "PURCHASE_MODELS",
    "CustomerValue",
    "FitResult",
    "churn_risk",
    "clv",
    "purchase_model",
    "score_customers",
    "simulate_bgnbd",
    "simulate_mbgnbd",
    "simulate_spend",
]


def purchase_model(fit: FitResult) -> PurchaseModel:
    try:
        return PURCHASE_MODELS[fit.model]
    except KeyError:
        raise ValueError(f"not a purchase model: {fit.model!r}") from None


def churn_risk(fit: FitResult, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """1 - P(alive) under the fitted purchase model (pass an MBG/NBD fit, see the module docstring)."""
    return 1.0 - purchase_model(fit).p_alive(fit.values(), x, t_x, T)


def clv(
    purchase_fit: FitResult,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    expected_spend: ArrayLike,
    *,
    horizon_periods: int = 12,
    period_length: float = 52.0 / 12.0,
    periods_per_year: float = 12.0,
    annual_discount_rate: float = 0.10,
    margin: float = 0.30,
) -> FloatArray:
    """Discounted expected margin over `horizon_periods` periods of `period_length` model time units.

    Purchases expected in period k are the difference of cumulative conditional expectations; each period's
    margin is discounted at the end of the period with the per-period rate (1 + annual)^(1/periods_per_year) - 1.
    The loop runs over periods (a dozen or so), never over customers.
    """
    model = purchase_model(purchase_fit)
    ends = _period_ends(horizon_periods, period_length)
    cumulative = model.conditional_expected_purchases_at(purchase_fit.values(), ends, x, t_x, T)
    return (
        margin
        * np.asarray(expected_spend, dtype=float)
        * _discounted(cumulative, annual_discount_rate, periods_per_year)
    )


def _period_ends(periods: int, length: float) -> list[float]:
    return [k * length for k in range(1, periods + 1)]


def _discounted(cumulative: Sequence[FloatArray], annual_discount_rate: float, periods_per_year: float) -> FloatArray:
    """Purchases expected in each period (differences of the cumulative expectations at the periods' ends),
    each discounted at the end of its period."""
    per_period = (1.0 + annual_discount_rate) ** (1.0 / periods_per_year) - 1.0
    total = np.zeros_like(cumulative[0])
    previous = np.zeros_like(total)
    for k, values in enumerate(cumulative, start=1):
        total += (values - previous) / (1.0 + per_period) ** k
        previous = values
    return total


@dataclass(frozen=True)
class CustomerValue:
    p_alive: FloatArray
    churn_risk: FloatArray
    expected_purchases: dict[float, FloatArray]  # horizon in days -> E[purchases in (T, T + horizon]]
    expected_spend: FloatArray
    clv: FloatArray


def score_customers(
    purchase_fit: FitResult,
    spend_fit: FitResult | None,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    m_x: ArrayLike,
    *,
    unit_days: float = 7.0,
    horizons_days: Sequence[float] = (90.0, 365.0),
    horizon_periods: int = 12,
    period_days: float = 365.25 / 12.0,
    annual_discount_rate: float = 0.10,
    margin: float = 0.30,
    grouped: tuple[FloatArray, NDArray[np.int64]] | None = None,
) -> CustomerValue:
    """All per-customer outputs at once; times x/t_x/T are in the model unit of `unit_days` days.

    The special functions run once per distinct (x, t_x, T): with day-resolution data a base of a million
    customers has a fraction as many, and CLV is linear in the expected spend, so the discounted purchase
    stream is computed per distinct row and multiplied by each customer's spend. Without a spend fit,
    expected spend and CLV are NaN. `grouped`: `group(x, t_x, T)`'s distinct rows and inverse, when the caller
    has them (the batch scores other signals on the same rows)."""
    xa = np.asarray(x, dtype=float)
    model = purchase_model(purchase_fit)
    params = purchase_fit.values()
    if grouped is None:
        rows, _, inverse = group(xa, t_x, T)
    else:
        rows, inverse = grouped
    gx, gt, gT = rows[:, 0], rows[:, 1], rows[:, 2]
    pa = model.p_alive(params, gx, gt, gT)[inverse]
    ts = [h / unit_days for h in horizons_days]
    ends = [] if spend_fit is None else _period_ends(horizon_periods, period_days / unit_days)
    # The horizons and the CLV's period ends in one call: P(alive) and the (x, T) grouping are computed once.
    at = model.conditional_expected_purchases_at(params, ts + ends, gx, gt, gT)
    expected = {h: values[inverse] for h, values in zip(horizons_days, at[: len(ts)], strict=True)}
    if spend_fit is None:
        spend = value = np.full(xa.shape, np.nan)
    else:
        spend = gammagamma.conditional_expected_spend(spend_fit.values(), xa, m_x)
        per_unit_spend = margin * _discounted(at[len(ts) :], annual_discount_rate, 365.25 / period_days)  # = clv()
        value = per_unit_spend[inverse] * spend
    return CustomerValue(pa, 1.0 - pa, expected, spend, value)
