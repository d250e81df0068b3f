"""Churn-risk signals from fitted purchase models: P(no purchase in the horizon) and 1 - P(alive)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..clv._fit import FitResult
from ..clv.summary import group
from ..clv.value import PURCHASE_MODELS, PurchaseModel
from ..compute.fitting import usable

# model signals by name: (purchase model, kind). BG/NBD's 1 - P(alive) is left out: it is 0 for every
# customer without a repeat purchase (see clv/value.py).
MODEL_SIGNALS: dict[str, tuple[str, str]] = {
    "mbgnbd.p_no_purchase": ("mbgnbd", "p_no_purchase"),
    "mbgnbd.p_dropout": ("mbgnbd", "p_dropout"),
    "bgnbd.p_no_purchase": ("bgnbd", "p_no_purchase"),
    "paretonbd.p_no_purchase": ("paretonbd", "p_no_purchase"),
    "paretonbd.p_dropout": ("paretonbd", "p_dropout"),
}
CLASSIFIED = ("classifier", "blend")  # the signals that need the calibration's trained classifier
FALLBACK = "mbgnbd.p_no_purchase"  # before any selection: the scoring model's own probability


def available(fits: Mapping[str, FitResult]) -> list[str]:
    return [name for name, (model, _) in MODEL_SIGNALS.items() if usable(fits.get(model))]


def model_signal(
    name: str, fits: Mapping[str, FitResult], x: np.ndarray, t_x: np.ndarray, T: np.ndarray, horizon: float
) -> np.ndarray:
    """The signal for customers (x, t_x, T) in the model's time unit; `horizon` in the same unit. The special
    functions run once per distinct row."""
    rows, _, inverse = group(np.asarray(x, dtype=float), t_x, T)
    return signal_on_rows(name, fits, rows, horizon)[inverse]


def signal_on_rows(name: str, fits: Mapping[str, FitResult], rows: np.ndarray, horizon: float) -> np.ndarray:
    """`model_signal` on distinct (x, t_x, T) rows (clv.summary.group's): a caller scoring several signals on
    the same customers groups them once."""
    model_name, kind = MODEL_SIGNALS[name]
    fit = fits[model_name]
    model, params = PURCHASE_MODELS[model_name], fit.values()
    gx, gt, gT = rows[:, 0], rows[:, 1], rows[:, 2]
    if kind == "p_no_purchase":
        values = model.p_no_purchase(params, horizon, gx, gt, gT)
    else:
        values = 1.0 - model.p_alive(params, gx, gt, gT)
    return np.clip(values, 0.0, 1.0)


def needed_models(purchase_model: str | None, *signals: str | None) -> tuple[PurchaseModel, ...]:
    """The purchase models a choice scores with: its purchase model and the models behind its signals."""
    names = {purchase_model, *(MODEL_SIGNALS[s][0] for s in signals if s in MODEL_SIGNALS)}
    return tuple(PURCHASE_MODELS[n] for n in sorted(n for n in names if n is not None))
