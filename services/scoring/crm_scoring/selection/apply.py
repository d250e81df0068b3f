"""The churn risk of customers now, from the calibration's chosen signal."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from ..clv._fit import FitResult
from ..compute.fitting import usable
from ..compute.model_inputs import ModelInputs
from ..compute.summary import Summaries
from . import classifier as clf
from .choose import Selection
from .features import features
from .signals import CLASSIFIED, FALLBACK, MODEL_SIGNALS, model_signal


def signal_in_use(
    selection: Selection | None, model: HistGradientBoostingClassifier | None, fits: Mapping[str, FitResult]
) -> str | None:
    """The signal that scores, or None when nothing can (no usable fit): the chosen one if it can be
    computed, else the fallback."""
    wanted = FALLBACK if selection is None else selection.churn_signal
    needs_model = wanted in CLASSIFIED
    blend_ok = wanted != "blend" or (
        selection is not None
        and selection.blend_with is not None
        and usable(fits.get(MODEL_SIGNALS[selection.blend_with][0]))
    )
    if (needs_model and model is not None and blend_ok) or (
        wanted in MODEL_SIGNALS and usable(fits.get(MODEL_SIGNALS[wanted][0]))
    ):
        return wanted
    return FALLBACK if usable(fits.get(MODEL_SIGNALS[FALLBACK][0])) else None


def churn_risk(
    s: Summaries,
    mi: ModelInputs,
    fits: Mapping[str, FitResult],
    selection: Selection | None,
    model: HistGradientBoostingClassifier | None,
    *,
    horizon_days: int,
    unit_days: float,
) -> tuple[np.ndarray, str | None]:
    """Per customer (NaN without a purchase) and the signal used. `horizon_days`: the rules' horizon, used
    when no selection was made (a selection keeps the horizon it was judged on)."""
    out = np.full(len(s), np.nan)
    signal = signal_in_use(selection, model, fits)
    has = mi.has_purchase
    if signal is None or not has.any():
        return out, signal
    horizon = (selection.horizon_days if selection is not None else horizon_days) / unit_days
    x, t_x, T = mi.x[has], mi.t_x[has], mi.T[has]
    if signal in MODEL_SIGNALS:
        out[has] = model_signal(signal, fits, x, t_x, T, horizon)
        return out, signal
    assert model is not None
    assert selection is not None
    p = clf.p_quiet(model, features(s)[has])
    if signal == "blend":
        assert selection.blend_with is not None
        p = (p + model_signal(selection.blend_with, fits, x, t_x, T, horizon)) / 2
    out[has] = p
    return out, signal
