"""Backtest: score the base as of a past date without storing anything, then compare the predictions with
what the customers did in the window (as_of, until]. This is how a firm checks the models on its own history
before trusting them (and how it compares rule or formula changes) without touching live scores.

Measured per run, for every fitted purchase model (BG/NBD, MBG/NBD, Pareto/NBD): purchase days predicted for
the window (the conditional expectation over its length) against those made, and how well three of its
signals rank the buyers who then bought nothing (AUC): 1 - P(alive), P(no purchase in the window) and minus
the expected purchases; beside them the AUC of plain days-since-last-purchase. The top-level figures are those
the customers got: the churn risk from the signal the run chose (selection/choose.py, judged on the history
before as_of only) and the expected purchases of the purchase model it chose. Purchases made in the window
are the purchase days added between the two dates (an order placed before `as_of` but cancelled later can
make that one fewer; counts are floored at 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..clv._fit import FitResult
from ..clv.summary import group
from ..clv.value import PURCHASE_MODELS, purchase_model
from ..compute.fitting import usable
from ..compute.model_inputs import model_inputs
from ..compute.score import Calibration
from ..compute.summary import Summaries
from ..rules.schemas import Rules
from ..selection.ranking import auc
from ..selection.split import purchase_days_after


def _ratio(predicted: float, actual: int) -> float | None:
    return round(predicted / actual, 4) if actual else None


def model_figures(
    fit: FitResult, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, horizon: float, actual: np.ndarray
) -> dict[str, Any]:
    """One purchase model over the window: predicted total against `actual` (purchase days per customer) and
    the AUCs of its signals for "no purchase in the window". `horizon` is in the model's time unit."""
    model, params = purchase_model(fit), fit.values()
    rows, _, inverse = group(x, t_x, T)  # the special functions run once per distinct (x, t_x, T)
    gx, gt, gT = rows[:, 0], rows[:, 1], rows[:, 2]
    expected = model.conditional_expected_purchases(params, horizon, gx, gt, gT)[inverse]
    alive = model.p_alive(params, gx, gt, gT)[inverse]
    quiet_p = model.p_no_purchase(params, horizon, gx, gt, gT)[inverse]
    predicted = float(np.nansum(expected))
    total = int(actual.sum())
    ratio = _ratio(predicted, total)
    quiet = actual == 0
    return {
        "predicted_purchase_days": round(predicted, 1),
        "predicted_over_actual": ratio,
        "holdout_error": None if ratio is None else round(ratio - 1.0, 4),
        "churn_auc": auc(1.0 - alive, quiet),
        "p_no_purchase_auc": auc(quiet_p, quiet),
        "minus_expected_purchases_auc": auc(-expected, quiet),
    }


def evaluate(
    then: Summaries, later: Summaries, scored: dict[str, np.ndarray], cal: Calibration, rules: Rules
) -> dict[str, Any]:
    """`then`: the summaries as of the run's date; `later`: as of the end of the window."""
    holdout_days = later.as_of_day - then.as_of_day
    buyers = then["n_days"] > 0
    actual = purchase_days_after(then, later)[buyers]
    out: dict[str, Any] = {
        "as_of": then.as_of.isoformat(),
        "until": later.as_of.isoformat(),
        "holdout_days": int(holdout_days),
        "buyers": int(buyers.sum()),
        "actual_purchase_days": int(actual.sum()),
        "share_without_purchase": float((actual == 0).mean()) if actual.size else None,
        "recency_auc": None,
        "churn_auc": None,
        "churn_signal": None if cal.selection is None else cal.selection.churn_signal,
        "purchase_model": cal.purchase_model,
        "predicted_purchase_days": None,
        "predicted_over_actual": None,
        "models": {},
    }
    if not buyers.any():
        return out
    quiet = actual == 0
    recency = (then.as_of_day - then["last_day"])[buyers].astype(np.float64)
    out["recency_auc"] = auc(recency, quiet)
    if holdout_days <= 0:
        return out
    mi = model_inputs(then, rules.clv.unit_days)
    x, t_x, T = mi.x[buyers], mi.t_x[buyers], mi.T[buyers]
    horizon = holdout_days / rules.clv.unit_days
    for name in PURCHASE_MODELS:
        fit = cal.fits.get(name)
        if usable(fit):
            assert fit is not None
            out["models"][name] = model_figures(fit, x, t_x, T, horizon, actual)
    scoring = out["models"].get(cal.purchase_model)
    if scoring is not None:
        out["predicted_purchase_days"] = scoring["predicted_purchase_days"]
        out["predicted_over_actual"] = scoring["predicted_over_actual"]
        out["churn_auc"] = auc(scored["churn_risk"][buyers], quiet)  # the churn risk customers were given
    return out


def distribution(scored: dict[str, np.ndarray], stages: tuple[str, ...]) -> dict[str, Any]:
    """Counts a run produced (also for a run that stores nothing): stages and ABC classes."""
    stage_counts = np.bincount(scored["stage"].astype(np.int64), minlength=len(stages))
    abc_counts = np.bincount(scored["abc"].astype(np.int64), minlength=4)
    return {
        "stages": {name: int(c) for name, c in zip(stages, stage_counts, strict=True)},
        "abc": {"A": int(abc_counts[3]), "B": int(abc_counts[2]), "C": int(abc_counts[1]), "none": int(abc_counts[0])},
    }
