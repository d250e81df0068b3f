"""The churn risk of customers now, from the calibration's chosen signal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from ..clv._fit import FitResult
from ..compute.fitting import usable
from ..compute.model_inputs import ModelInputs
from ..compute.summary import Summaries
from . import classifier as clf
from .choose import Selection
from .features import features
from .signals import FALLBACK, MODEL_SIGNALS, model_signal, signal_on_rows

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier


def _computable(
    signal: str,
    selection: Selection | None,
    model: HistGradientBoostingClassifier | None,
    fits: Mapping[str, FitResult],
) -> bool:
    if signal in MODEL_SIGNALS:
        return usable(fits.get(MODEL_SIGNALS[signal][0]))
    if model is None or selection is None:
        return False
    blended = selection.blend_with
    return signal == "classifier" or (blended is not None and _computable(blended, selection, model, fits))


def signal_in_use(
    selection: Selection | None, model: HistGradientBoostingClassifier | None, fits: Mapping[str, FitResult]
) -> str | None:
    """The signal that scores, or None when nothing can (no usable fit): the chosen one if it can be
    computed, else the fallback."""
    wanted = FALLBACK if selection is None else selection.churn_signal
    for signal in (wanted, FALLBACK):
        if _computable(signal, selection, model, fits):
            return signal
    return None


def churn_risk(
    s: Summaries,
    mi: ModelInputs,
    fits: Mapping[str, FitResult],
    selection: Selection | None,
    model: HistGradientBoostingClassifier | None,
    *,
    horizon_days: int,
    unit_days: float,
    grouped: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, str | None]:
    """Per customer (NaN without a purchase) and the signal used. `horizon_days`: the rules' horizon, used
    when no selection was made (a selection keeps the horizon it was judged on). `grouped`: the buyers'
    distinct (x, t_x, T) rows and inverse (clv.summary.group), when the caller has them."""
    out = np.full(len(s), np.nan)
    signal = signal_in_use(selection, model, fits)
    has = mi.has_purchase
    if signal is None or not has.any():
        return out, signal
    horizon = (selection.horizon_days if selection is not None else horizon_days) / unit_days
    x, t_x, T = mi.x[has], mi.t_x[has], mi.T[has]

    def model_risk(name: str) -> np.ndarray:
        if grouped is None:
            return model_signal(name, fits, x, t_x, T, horizon)
        rows, inverse = grouped
        return signal_on_rows(name, fits, rows, horizon)[inverse]

    if signal in MODEL_SIGNALS:
        out[has] = model_risk(signal)
        return out, signal
    assert model is not None
    assert selection is not None
    p = clf.p_quiet(model, features(s, np.flatnonzero(has)))
    if signal == "blend":
        assert selection.blend_with is not None
        p = (p + model_risk(selection.blend_with)) / 2
    out[has] = p
    return out, signal
