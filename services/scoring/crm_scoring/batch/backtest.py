"""Backtest: score the base as of a past date without storing anything, then compare the predictions with
what the customers did from that date to now. This is how a firm checks the models on its own history
before trusting them (and how it compares rule or formula changes) without touching live scores.

Measured per run: purchase days predicted for the holdout (MBG/NBD conditional expectation) against those
made, and how well the churn risk ranks the buyers who then bought nothing (AUC), next to the AUC of plain
days-since-last-purchase. Purchases made after `as_of` are the purchase days added since (an order placed
before `as_of` but cancelled later can make that one fewer; counts are floored at 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

from ..clv.value import score_customers
from ..compute.fitting import usable
from ..compute.model_inputs import model_inputs
from ..compute.score import PURCHASE_MODEL, Calibration
from ..compute.summary import Summaries
from ..rules.schemas import Rules


def auc(score: np.ndarray, positive: np.ndarray) -> float | None:
    """Mann-Whitney AUC: P(score of a positive > score of a negative), ties counted half."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(
    then: Summaries, now: Summaries, scored: dict[str, np.ndarray], cal: Calibration, rules: Rules
) -> dict[str, Any]:
    holdout_days = now.as_of_day - then.as_of_day
    then_keys = np.ascontiguousarray(then["customer_id"]).view("S16")
    now_keys = np.ascontiguousarray(now["customer_id"]).view("S16")
    at = np.minimum(np.searchsorted(now_keys, then_keys), max(len(now_keys) - 1, 0))
    found = (now_keys[at] == then_keys) if len(now_keys) else np.zeros(len(then_keys), dtype=bool)
    days_now = np.where(found, now["n_days"][at] if len(now_keys) else 0, then["n_days"])
    buyers = then["n_days"] > 0
    actual = np.maximum(days_now - then["n_days"], 0)[buyers]
    out: dict[str, Any] = {
        "holdout_days": int(holdout_days),
        "buyers": int(buyers.sum()),
        "actual_purchase_days": int(actual.sum()),
        "share_without_purchase": float((actual == 0).mean()) if actual.size else None,
        "recency_auc": None,
        "churn_auc": None,
        "predicted_purchase_days": None,
        "predicted_over_actual": None,
    }
    if not buyers.any():
        return out
    quiet = actual == 0
    recency = (then.as_of_day - then["last_day"])[buyers].astype(np.float64)
    out["recency_auc"] = auc(recency, quiet)
    fit = cal.fits.get(PURCHASE_MODEL)
    if usable(fit) and holdout_days > 0:
        assert fit is not None
        mi = model_inputs(then, rules.clv.unit_days)
        x = mi.x[buyers]
        expected = score_customers(
            fit,
            None,
            x,
            mi.t_x[buyers],
            mi.T[buyers],
            np.zeros_like(x),
            unit_days=rules.clv.unit_days,
            horizons_days=(holdout_days,),
        ).expected_purchases[holdout_days]
        predicted = float(np.nansum(expected))
        out["predicted_purchase_days"] = round(predicted, 1)
        out["predicted_over_actual"] = round(predicted / float(actual.sum()), 4) if actual.sum() else None
        risk = scored["churn_risk"][buyers]
        ok = np.isfinite(risk)
        out["churn_auc"] = auc(risk[ok], quiet[ok])
    return out


def distribution(scored: dict[str, np.ndarray], stages: tuple[str, ...]) -> dict[str, Any]:
    """Counts a run produced (also for a run that stores nothing): stages and ABC classes."""
    stage_counts = np.bincount(scored["stage"].astype(np.int64), minlength=len(stages))
    abc_counts = np.bincount(scored["abc"].astype(np.int64), minlength=4)
    return {
        "stages": {name: int(c) for name, c in zip(stages, stage_counts, strict=True)},
        "abc": {"A": int(abc_counts[3]), "B": int(abc_counts[2]), "C": int(abc_counts[1]), "none": int(abc_counts[0])},
    }
