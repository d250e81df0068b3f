"""Fitting the purchase and spend models on the whole base (the batch's "fit" phase)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy as np

from ..clv import bgnbd, gammagamma, mbgnbd, paretonbd
from ..clv._fit import FitResult
from ..clv.summary import group
from ..clv.value import PurchaseModel
from .model_inputs import ModelInputs

# Below these sample sizes a maximum-likelihood fit says more about noise than about the base.
MIN_BUYERS = 50
MIN_REPEAT_BUYERS = 20


# What a live run fits: the scoring model (MBG/NBD) and BG/NBD. A backtest also fits Pareto/NBD, to compare
# the purchase models on the tenant's own history (its fit costs several times theirs; nothing live uses it yet).
LIVE_PURCHASE_MODELS = (bgnbd, mbgnbd)
BACKTEST_PURCHASE_MODELS = (bgnbd, mbgnbd, paretonbd)


def fit_models(
    mi: ModelInputs,
    previous: Mapping[str, FitResult] | None = None,
    purchase_models: Sequence[PurchaseModel] = LIVE_PURCHASE_MODELS,
    *,
    spend: bool = True,
) -> tuple[dict[str, FitResult], list[str]]:
    """The purchase models on every buyer, Gamma-Gamma on repeat buyers with positive spend, in parallel
    threads (SciPy's special functions and NumPy release the GIL). A previous fit of a model is its single
    start: the base changes little between runs, so one local search from there replaces the multi-start.

    Returns the fits and notes on what was skipped and why (too few customers, a failed fit)."""
    previous = previous or {}
    notes: list[str] = []
    has = mi.has_purchase
    x, t_x, T = mi.x[has], mi.t_x[has], mi.T[has]
    repeat = has & (mi.x > 0) & (mi.m_x > 0)
    jobs: dict[str, Callable[[], FitResult]] = {}

    def start(model: str) -> tuple[float, ...] | None:
        fit = previous.get(model)
        return fit.values() if usable(fit) else None  # type: ignore[union-attr]

    if has.sum() < MIN_BUYERS:
        notes.append(f"purchase models not fitted: {int(has.sum())} buyers (< {MIN_BUYERS})")
    elif purchase_models:
        # The distinct rows once for every purchase model (a grouping of a million customers costs ~0.3 s).
        distinct, weights, _ = group(x, t_x, T)
        for model in {m.name: m for m in purchase_models}.values():
            jobs[model.name] = partial(model.fit, x, t_x, T, start(model.name), (distinct, weights))
    if not spend:
        pass
    elif repeat.sum() < MIN_REPEAT_BUYERS:
        notes.append(f"spend model not fitted: {int(repeat.sum())} repeat buyers (< {MIN_REPEAT_BUYERS})")
    else:
        jobs[gammagamma.MODEL] = partial(gammagamma.fit, mi.x[repeat], mi.m_x[repeat], start(gammagamma.MODEL))
    fits: dict[str, FitResult] = {}
    with ThreadPoolExecutor(max_workers=len(jobs) or 1, thread_name_prefix="fit") as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        for name, future in futures.items():
            try:
                fits[name] = future.result()
            except (ValueError, FloatingPointError) as exc:
                notes.append(f"{name} fit failed: {exc}")
    return fits, notes


def fit_to_json(fit: FitResult) -> dict[str, Any]:
    return dataclasses.asdict(fit)


# The order each model takes its parameters in (FitResult.values() passes them positionally).
PARAM_ORDER: dict[str, tuple[str, ...]] = {
    bgnbd.name: bgnbd.PARAM_NAMES,
    mbgnbd.name: mbgnbd.PARAM_NAMES,
    paretonbd.name: paretonbd.PARAM_NAMES,
    gammagamma.MODEL: gammagamma.PARAM_NAMES,
}


def fit_from_json(data: dict[str, Any]) -> FitResult:
    """A stored fit. jsonb keeps object keys in an order of its own (shortest first), so the parameters are
    put back in the model's order: read as stored, BG/NBD's (r, alpha, a, b) would come back as (a, b, r,
    alpha)."""
    fields = {f.name: data[f.name] for f in dataclasses.fields(FitResult) if f.name in data}
    stored = data["params"]
    fields["params"] = {name: float(stored[name]) for name in PARAM_ORDER[data["model"]]}
    return FitResult(**fields)


def usable(fit: FitResult | None) -> bool:
    """A fit scores customers if its parameters are finite (and a != 1 for the NBD models, whose
    expected-purchase formulas divide by a - 1). Convergence is recorded, not required: L-BFGS-B often
    stops on a line-search flag at the optimum, which the stored message shows."""
    if fit is None or not all(np.isfinite(v) for v in fit.params.values()):
        return False
    return abs(fit.params.get("a", 0.0) - 1.0) > 1e-9
