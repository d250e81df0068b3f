"""Fitting the purchase and spend models on the whole base (the batch's "fit" phase)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..clv import bgnbd, gammagamma, mbgnbd
from ..clv._fit import FitResult
from .model_inputs import ModelInputs

# Below these sample sizes a maximum-likelihood fit says more about noise than about the base.
MIN_BUYERS = 50
MIN_REPEAT_BUYERS = 20


def fit_models(mi: ModelInputs) -> tuple[dict[str, FitResult], list[str]]:
    """BG/NBD and MBG/NBD on every buyer, Gamma-Gamma on repeat buyers with positive spend.

    Returns the fits and notes on what was skipped and why (too few customers, a failed fit)."""
    fits: dict[str, FitResult] = {}
    notes: list[str] = []
    has = mi.has_purchase
    x, t_x, T = mi.x[has], mi.t_x[has], mi.T[has]
    if has.sum() < MIN_BUYERS:
        notes.append(f"purchase models not fitted: {int(has.sum())} buyers (< {MIN_BUYERS})")
    else:
        for module in (bgnbd, mbgnbd):
            try:
                fits[module.MODEL] = module.fit(x, t_x, T)
            except (ValueError, FloatingPointError) as exc:
                notes.append(f"{module.MODEL} fit failed: {exc}")
    repeat = has & (mi.x > 0) & (mi.m_x > 0)
    if repeat.sum() < MIN_REPEAT_BUYERS:
        notes.append(f"spend model not fitted: {int(repeat.sum())} repeat buyers (< {MIN_REPEAT_BUYERS})")
    else:
        try:
            fits[gammagamma.MODEL] = gammagamma.fit(mi.x[repeat], mi.m_x[repeat])
        except (ValueError, FloatingPointError) as exc:
            notes.append(f"gammagamma fit failed: {exc}")
    return fits, notes


def fit_to_json(fit: FitResult) -> dict[str, Any]:
    return dataclasses.asdict(fit)


def fit_from_json(data: dict[str, Any]) -> FitResult:
    return FitResult(**{f.name: data[f.name] for f in dataclasses.fields(FitResult) if f.name in data})


def usable(fit: FitResult | None) -> bool:
    """A fit scores customers if its parameters are finite (and a != 1 for the NBD models, whose
    expected-purchase formulas divide by a - 1). Convergence is recorded, not required: L-BFGS-B often
    stops on a line-search flag at the optimum, which the stored message shows."""
    if fit is None or not all(np.isfinite(v) for v in fit.params.values()):
        return False
    return abs(fit.params.get("a", 0.0) - 1.0) > 1e-9
