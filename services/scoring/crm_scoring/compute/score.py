"""Scoring a set of customers from their summaries: one vectorized function for the batch (the whole base)
and for incremental rescoring (the customers an event touched), so both give the same numbers.

Base-relative classes (RFM quintiles, ABC, gold) are placed against the calibration's cut points. The batch
first cuts its own base (`cut_base`) and then places everyone with the same `place` as incremental scoring.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from ..clv._blas import single_thread
from ..clv._fit import FitResult
from ..clv.summary import group
from ..clv.value import score_customers
from ..formulas.engine import Formula
from ..formulas.engine import score as composite_score
from ..rules.schemas import Rules
from ..selection.apply import churn_risk
from ..selection.choose import Selection
from ..selection.signals import signal_on_rows
from ..value.abc import abc_classes, gold_flags
from ..value.cuts import Cuts, cuts_from_levels, place
from ..value.rfm import quintile_scores, segment_codes
from .fitting import usable
from .lifecycle import stages
from .model_inputs import ModelInputs, model_inputs
from .summary import BRAND_CONTRIBUTIONS, DAYS_PER_MONTH, PAYMENT_TERMS, Summaries

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier

Result = TypeVar("Result")
# P(alive) and the lifecycle stages read MBG/NBD (its thresholds are set on it; see clv/value.py); expected
# purchases and CLV read the calibration's chosen purchase model, this one until a batch has chosen.
PURCHASE_MODEL = "mbgnbd"
SPEND_MODEL = "gammagamma"
# What RFM's F counts: distinct purchase days, as the lifecycle stages and the purchase models do (several
# orders on one day are one purchase occasion), so "champion" never goes with "one purchase day so far".
RFM_FREQUENCY = "purchase_days"


@dataclass(frozen=True)
class Calibration:
    """Fits, cut points and the choices made by evidence in force (id None: not stored yet, or none exists)."""

    id: int | None = None
    fits: dict[str, FitResult] = field(default_factory=dict)
    cuts: dict[str, Cuts] = field(default_factory=dict)
    selection: Selection | None = None
    classifier: HistGradientBoostingClassifier | None = None  # when the chosen churn signal needs it

    @property
    def purchase_model(self) -> str:
        """The model for expected purchases and CLV: the chosen one if its fit is usable."""
        chosen = self.selection.purchase_model if self.selection is not None else None
        return chosen if chosen is not None and usable(self.fits.get(chosen)) else PURCHASE_MODEL


@dataclass(frozen=True)
class Derived:
    """Per-customer figures every class and rule reads."""

    recency_days: np.ndarray  # NaN without purchase
    tenure_months: np.ndarray
    monthly_frequency: np.ndarray
    monthly_avg_spend: np.ndarray
    avg_spend: np.ndarray
    frequency_trend: np.ndarray
    spend_trend: np.ndarray


def _trend(recent: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """(recent - previous) / max(recent, previous) in [-1, 1]; NaN when both windows are empty."""
    r, p = recent.astype(np.float64), previous.astype(np.float64)
    scale = np.maximum(np.abs(r), np.abs(p))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, (r - p) / scale, np.nan)


def derive(s: Summaries) -> Derived:
    has = s["n_days"] > 0
    n_orders = s["n_orders"].astype(np.float64)
    recency = np.where(has, s.as_of_day - s["last_day"], np.nan).astype(np.float64)
    tenure = np.where(has, (s.as_of_day - s["first_day"]) / DAYS_PER_MONTH, np.nan)
    months = np.maximum(tenure, 1.0)  # rates over less than a month are per month of one month
    with np.errstate(invalid="ignore", divide="ignore"):
        priced = n_orders - s["n_unpriced"]  # orders without a rate to the reporting currency have no spend
        avg = np.where(priced > 0, s["total"] / priced, np.nan)
    return Derived(
        recency_days=recency,
        tenure_months=tenure,
        monthly_frequency=np.where(has, n_orders / months, np.nan),
        monthly_avg_spend=np.where(has, s["total"] / months, np.nan),
        avg_spend=avg,
        frequency_trend=_trend(s["days_recent"], s["days_prev"]),
        spend_trend=_trend(s["spend_recent"], s["spend_prev"]),
    )


def cut_base(s: Summaries, d: Derived, rules: Rules) -> dict[str, Cuts]:
    """The batch's cut points over its whole base: RFM quintiles, ABC classes and the gold share."""
    has = s["n_days"] > 0
    total, days = s["total"], s["n_days"].astype(np.float64)  # RFM's F: purchase days (see RFM_FREQUENCY)
    base = has & np.isfinite(total)
    abc = abc_classes(total, rules.abc.thresholds())
    abc_level = np.select([abc == "A", abc == "B"], [3, 2], 1)
    gold_level = gold_flags(s["spend_12m"], rules.abc.gold_share).astype(np.int64) + 1
    return {
        "r": cuts_from_levels(-d.recency_days, quintile_scores(d.recency_days, base, higher_is_better=False), 5),
        "f": cuts_from_levels(days, quintile_scores(days, base), 5),
        "m": cuts_from_levels(total, quintile_scores(total, base), 5),
        "abc": cuts_from_levels(total, abc_level, 3),
        "gold": cuts_from_levels(s["spend_12m"], gold_level, 2),
    }


def _clv_block(s: Summaries, mi: ModelInputs, cal: Calibration, rules: Rules) -> dict[str, np.ndarray]:
    """P(alive), churn risk, expected purchases per horizon, expected spend and CLV; NaN when the
    calibration has no usable fits. Special functions run once per distinct (x, t_x, T)."""
    n = len(s)
    horizons = rules.clv.horizons_days
    out = {name: np.full(n, np.nan) for name in ("p_alive", "churn_risk", "expected_spend", "clv")}
    out.update({f"exp_{i}": np.full(n, np.nan) for i in range(len(horizons))})
    purchase_fit, spend_fit = cal.fits.get(cal.purchase_model), cal.fits.get(SPEND_MODEL)
    alive_fit = cal.fits.get(PURCHASE_MODEL)
    has = mi.has_purchase
    if not usable(purchase_fit) or not usable(alive_fit) or not has.any():
        return out
    assert purchase_fit is not None
    assert alive_fit is not None
    if not usable(spend_fit) or spend_fit.params["q"] <= 1:  # type: ignore[union-attr]
        spend_fit = None  # E[spend] = p gamma / (q - 1) is finite only for q > 1
    x, t_x, T = mi.x[has], mi.t_x[has], mi.T[has]
    # The buyers' distinct rows once for every model output (each grouping of a million rows costs ~0.3 s).
    rows, _, inverse = group(x, t_x, T)
    value = score_customers(
        purchase_fit,
        spend_fit,
        x,
        t_x,
        T,
        np.where(mi.x[has] > 0, np.maximum(np.nan_to_num(mi.m_x[has]), 0.0), 0.0),
        unit_days=rules.clv.unit_days,
        horizons_days=horizons,
        horizon_periods=rules.clv.horizon_months,
        period_days=DAYS_PER_MONTH,
        annual_discount_rate=rules.clv.annual_discount_rate,
        margin=rules.clv.margin,
        grouped=(rows, inverse),
    )
    out["p_alive"][has] = (
        value.p_alive
        if purchase_fit is alive_fit
        else 1.0 - signal_on_rows("mbgnbd.p_dropout", cal.fits, rows, 0.0)[inverse]
    )
    out["churn_risk"], _ = churn_risk(
        s,
        mi,
        cal.fits,
        cal.selection,
        cal.classifier,
        horizon_days=rules.churn.horizon_days,
        unit_days=rules.clv.unit_days,
        grouped=(rows, inverse),
    )
    for i, h in enumerate(horizons):
        out[f"exp_{i}"][has] = value.expected_purchases[h]
    out["expected_spend"][has] = value.expected_spend
    out["clv"][has] = value.clv
    # Degenerate fits (e.g. a and b in the tens of thousands on a tiny base) can overflow the hypergeometric
    # series for some customers: such a customer gets no model outputs at all rather than a partial set.
    outputs = ["p_alive", *(f"exp_{i}" for i in range(len(horizons)))]
    broken = has & ~np.all([np.isfinite(out[k]) for k in outputs], axis=0)
    broken |= has & np.isfinite(out["expected_spend"]) & ~np.isfinite(out["clv"])
    for values in out.values():
        values[broken] = np.nan
    return out


def _categories(codes: np.ndarray, vocabulary: tuple[str, ...]) -> np.ndarray:
    return np.array([None, *vocabulary], dtype=object)[codes.astype(np.intp)]


def score(
    s: Summaries,
    rules: Rules,
    formula_version: int | None,
    formula: Formula | None,
    cal: Calibration,
    d: Derived | None = None,
    clv_block: Callable[[], dict[str, np.ndarray]] | None = None,
) -> dict[str, np.ndarray]:
    """Every stored figure per customer, as arrays (their stored forms: compute/stored.py).
    `d`: the summaries' derived figures when the caller already has them (the batch cuts the base on them).
    `clv_block`: the model outputs' getter when they are being computed elsewhere (`cut_and_score`)."""
    n = len(s)
    if d is None:
        d = derive(s)
    mi = model_inputs(s, rules.clv.unit_days)
    has = mi.has_purchase
    total, days = s["total"], s["n_days"].astype(np.float64)
    out: dict[str, np.ndarray] = {
        "customer_id": s["customer_id"],
        "n_days": s["n_days"],
        "n_orders": s["n_orders"],
        "first_at": s["first_at"],
        "last_at": s["last_at"],
        "total": total,
        "avg_spend": d.avg_spend,
        "spend_12m": s["spend_12m"],
        "monthly_frequency": d.monthly_frequency,
        "monthly_avg_spend": d.monthly_avg_spend,
        "tenure_months": d.tenure_months,
        "recency_days": np.where(has, np.nan_to_num(d.recency_days), -1).astype(np.int32),
        "frequency_trend": d.frequency_trend,
        "spend_trend": d.spend_trend,
    }
    # Base-relative classes against the calibration's cuts (none before the first batch: unscored).
    cuts = cal.cuts
    eligible = has & np.isfinite(total)
    for axis, key in (("r", -d.recency_days), ("f", days), ("m", total)):
        out[axis] = place(key, cuts[axis], eligible).astype(np.int16) if axis in cuts else np.zeros(n, np.int16)
    seg, _ = segment_codes(
        out["r"], out["f"], out["m"], [r.model_dump(exclude_none=True) for r in rules.rfm_segments.segments]
    )
    out["segment"] = seg.astype(np.int16)  # -1: unscored
    everyone = np.ones(n, dtype=bool)
    out["abc"] = place(total, cuts["abc"], everyone).astype(np.int16) if "abc" in cuts else np.zeros(n, np.int16)
    out["gold"] = place(s["spend_12m"], cuts["gold"], everyone) == 2 if "gold" in cuts else np.zeros(n, bool)
    out["drag"] = has & (d.recency_days > rules.abc.drag_days)
    # Composite value score from the active formula.
    if formula is not None:
        composite, _ = composite_score(
            formula,
            {
                "total_spend": total,
                "monthly_frequency": d.monthly_frequency,
                "monthly_avg_spend": d.monthly_avg_spend,
                "tenure_months": d.tenure_months,
                "declared_budget": s["declared_budget"],
                "share_of_wallet": s["share_of_wallet"],
                "payment_terms": _categories(s["payment_terms"], PAYMENT_TERMS),
                "brand_contribution": _categories(s["brand_contribution"], BRAND_CONTRIBUTIONS),
            },
        )
    else:
        composite = np.zeros(n)
    out["composite"] = composite
    out["formula_version"] = np.full(n, formula_version if formula_version is not None else -1, dtype=np.int32)
    out.update(_clv_block(s, mi, cal, rules) if clv_block is None else clv_block())
    stage, rule = stages(
        rules.lifecycle,
        n_days=s["n_days"],
        recency_days=d.recency_days,
        p_alive=out["p_alive"],
        frequency_trend=d.frequency_trend,
        spend_trend=d.spend_trend,
    )
    out["stage"], out["stage_rule"] = stage, rule
    return out


def cut_and_score(
    s: Summaries,
    rules: Rules,
    formula_version: int | None,
    formula: Formula | None,
    fits: dict[str, FitResult],
    selection: Selection | None,
    classifier: HistGradientBoostingClassifier | None,
    *,
    parallel: bool = True,
) -> tuple[Calibration, dict[str, np.ndarray]]:
    """The batch's scoring: the base cut (`cut_base`) and everyone scored against the cuts, with the model
    outputs (P(alive), churn risk, expected purchases, CLV: the special functions over every buyer, ~60% of the
    work) computed in a thread meanwhile, as they do not depend on the cuts; NumPy and SciPy release the GIL, so
    the cuts' sorts run on the other core. `parallel=False`: the same one after the other."""
    mi = model_inputs(s, rules.clv.unit_days)
    models = Calibration(None, fits, {}, selection, classifier)  # what the model outputs read: no cuts
    with ThreadPoolExecutor(1, thread_name_prefix="score") as pool:
        if parallel:
            clv_block = pool.submit(_single_threaded, partial(_clv_block, s, mi, models, rules)).result
        else:
            clv_block = partial(_clv_block, s, mi, models, rules)
        d = derive(s)
        cal = Calibration(None, fits, cut_base(s, d, rules), selection, classifier)
        return cal, score(s, rules, formula_version, formula, cal, d, clv_block)


def _single_threaded(job: Callable[[], Result]) -> Result:
    """`job` with one BLAS thread: beside the main thread's work, OpenBLAS's pool would spin for a busy core."""
    with single_thread():
        return job()
