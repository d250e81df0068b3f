"""Choosing the churn-risk signal and the purchase model by evidence.

At `as_of - horizon` the base is split (split.py): the customers who had bought by then, with what they did in
the `horizon` days after. Every candidate scores them as they were (models fitted on the history up to the
split only, the classifier trained on the customers not held out) and is judged on the held-out customers by
AUC for "no purchase in the horizon"; days since the last purchase is measured beside them as the naive
baseline. The scoring model's own probability stays unless a candidate ranks the held-out customers better by
more than chance allows (a paired DeLong test, one-sided 5% spread over the candidates): with a few hundred
held-out buyers the candidates' AUCs differ by less than their noise, and the best of several noisy figures is
mostly luck. The purchase model for expected purchases and CLV is the one whose predicted total over the horizon
came closest to the purchases made. Nothing here reads a date after `as_of`, so a backtest as of a past date
chooses exactly as a live run on that date would have.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..clv._fit import FitResult
from ..clv.summary import group
from ..clv.value import PURCHASE_MODELS
from ..compute.fitting import usable
from ..compute.model_inputs import model_inputs
from ..compute.summary import Summaries
from ..rules.schemas import Churn
from . import classifier
from .features import features
from .ranking import auc, auc_difference, components, paired_difference
from .signals import CLASSIFIED, FALLBACK, MODEL_SIGNALS, available, signal_on_rows
from .split import split

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier

MIN_HELD_OUT = 100  # fewer held-out buyers (or fewer than 10 of either outcome): no choice by evidence
# Beyond these many customers a figure is as well judged from a random sample (an AUC's standard error at
# 100k is about 0.002), and Pareto/NBD's special functions cost ~1.3 s per 200k customers.
MAX_JUDGED = 100_000
MAX_COUNTED = 200_000
SWITCH_ALPHA = 0.05  # the chance, over all candidates together, of leaving the default for one no better


def _at_most(mask: np.ndarray, size: int, seed: int) -> np.ndarray:
    """`mask` thinned at random to at most `size` true entries."""
    where = np.flatnonzero(mask)
    if len(where) <= size:
        return mask
    out = np.zeros_like(mask)
    out[np.random.default_rng(seed).choice(where, size, replace=False)] = True
    return out


@dataclass(frozen=True)
class Selection:
    """What a calibration scores with, and the evidence for it (stored with the calibration)."""

    churn_signal: str
    purchase_model: str | None  # expected purchases and CLV; None: the default (MBG/NBD)
    horizon_days: int
    blend_with: str | None = None  # the model signal averaged with the classifier ("blend")
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Selection:
        return cls(
            **{k: data[k] for k in ("churn_signal", "purchase_model", "horizon_days") if k in data},
            blend_with=data.get("blend_with"),
            evidence=dict(data.get("evidence") or {}),
        )


@dataclass(frozen=True)
class Choice:
    selection: Selection
    classifier: HistGradientBoostingClassifier | None  # kept when the signal needs it


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _holdout_errors(
    fits: Mapping[str, FitResult], x: np.ndarray, t_x: np.ndarray, T: np.ndarray, actual: np.ndarray, horizon: float
) -> dict[str, float]:
    """Per purchase model: predicted purchase days over the horizon (in model time units) / those made - 1,
    over (a sample of) the buyers at the split."""
    counted = _at_most(np.ones(len(actual), dtype=bool), MAX_COUNTED, seed=1)
    rows, _, inverse = group(x[counted], t_x[counted], T[counted])
    made = int(actual[counted].sum())
    out: dict[str, float] = {}
    for name, model in PURCHASE_MODELS.items():
        fit = fits.get(name)
        if made and usable(fit):
            assert fit is not None
            expected = model.conditional_expected_purchases(fit.values(), horizon, rows[:, 0], rows[:, 1], rows[:, 2])
            out[name] = round(float(np.nansum(expected[inverse])) / made - 1.0, 4)
    return out


def _z_needed(candidates: int) -> float:
    from scipy.stats import norm  # imported when first used: scipy.stats takes ~0.5 s (batch/prewarm.py)

    return float(norm.ppf(1.0 - SWITCH_ALPHA / max(candidates, 1)))


def _margins(scores: Mapping[str, np.ndarray], ranked: Mapping[str, float], quiet: np.ndarray) -> dict[str, float]:
    """Each ranked candidate's paired z over the default signal (none when the default is not ranked)."""
    if FALLBACK not in ranked:
        return {}
    others = [name for name in ranked if name != FALLBACK]
    m = int(quiet.sum())
    if all(np.isfinite(scores[name]).all() for name in (FALLBACK, *others)) and min(m, quiet.size - m) >= 2:
        # Every score on the same rows: each one's components once (the default's served every pair).
        base = components(scores[FALLBACK], quiet)
        return {name: paired_difference(components(scores[name], quiet), base).z for name in others}
    out: dict[str, float] = {}
    for name in others:
        diff = auc_difference(scores[name], scores[FALLBACK], quiet)
        if diff is not None:
            out[name] = diff.z
    return out


def _by_evidence(ranked: Mapping[str, float], margins: Mapping[str, float]) -> str:
    """The default unless candidates beat it beyond chance (then the best of those); without the default, the
    best ranked."""
    if FALLBACK not in ranked:
        return max(ranked, key=lambda n: ranked[n]) if ranked else FALLBACK
    needed = _z_needed(len(margins))
    better = [name for name, z in margins.items() if z > needed]
    return max(better, key=lambda n: ranked[n]) if better else FALLBACK


def choose(
    then: Summaries,
    now: Summaries,
    fits_then: Mapping[str, FitResult] | Callable[[], Mapping[str, FitResult]],
    rules: Churn,
    unit_days: float,
) -> tuple[Choice | None, list[str]]:
    """The signal and purchase model to score `now` with, from the split at `then` (= now - horizon); None (with
    a note) when the history before the split is too thin to judge. `fits_then` may be a callable that waits for
    fits still being computed (e.g. a future's `result`): the classifier is trained before they are needed."""
    horizon_days = now.as_of_day - then.as_of_day  # the split's own window (the runner takes it from the rules)
    sp = split(then, now, rules.validation_share)
    val, quiet = sp.validation, sp.quiet
    n_val_quiet = int(quiet[val].sum())
    if int(val.sum()) < MIN_HELD_OUT or min(n_val_quiet, int(val.sum()) - n_val_quiet) < 10:
        return None, [
            f"churn signal not chosen: {int(val.sum())} held-out buyers at {then.as_of.date()} "
            f"({n_val_quiet} without a purchase after), too few to judge; using {FALLBACK}"
        ]
    val = _at_most(val, MAX_JUDGED, seed=2)
    # The classifier first: it needs no fit, so it trains while the split's fits may still be running.
    buyers = np.flatnonzero(sp.buyers)  # `sp`'s masks are over the buyers at the split
    training = np.flatnonzero(~sp.validation)
    picked = classifier.training_rows(quiet[training])
    model = None
    if picked is not None:
        training = training[picked]
        model = classifier.fit(features(then, buyers[training]), quiet[training])
    if callable(fits_then):
        fits_then = fits_then()
    mi = model_inputs(then, unit_days)
    x, t_x, T = mi.x[sp.buyers], mi.t_x[sp.buyers], mi.T[sp.buyers]
    horizon = horizon_days / unit_days
    rows, _, inverse = group(x[val], t_x[val], T[val])  # once for every model signal
    scores: dict[str, np.ndarray] = {
        name: signal_on_rows(name, fits_then, rows, horizon)[inverse] for name in available(fits_then)
    }
    aucs: dict[str, float | None] = {name: auc(s, quiet[val]) for name, s in scores.items()}
    best_model_signal = max(
        (n for n in aucs if MODEL_SIGNALS[n][1] == "p_no_purchase" and aucs[n] is not None),
        key=lambda n: aucs[n] or 0.0,
        default=None,
    )
    if model is not None:
        p = classifier.p_quiet(model, features(then, buyers[val]))
        scores["classifier"] = p
        aucs["classifier"] = auc(p, quiet[val])
        if best_model_signal is not None:
            scores["blend"] = (p + scores[best_model_signal]) / 2
            aucs["blend"] = auc(scores["blend"], quiet[val])
    recency = (then.as_of_day - then["last_day"][sp.buyers][val]).astype(np.float64)
    notes: list[str] = []
    ranked = {name: a for name, a in aucs.items() if a is not None}
    margins = _margins(scores, ranked, quiet[val])
    if rules.signal != "auto":
        chosen = rules.signal if rules.signal in ranked else FALLBACK
        if chosen != rules.signal:
            notes.append(f"churn signal {rules.signal} is not available on this history; using {FALLBACK}")
    else:
        chosen = _by_evidence(ranked, margins)
    errors = _holdout_errors(fits_then, x, t_x, T, sp.actual, horizon)
    purchase_model = min(errors, key=lambda n: abs(errors[n])) if errors else None
    evidence = {
        "split_at": then.as_of.isoformat(),
        "held_out_buyers": int(sp.validation.sum()),
        "judged_buyers": int(val.sum()),  # the held-out buyers the candidates were judged on (a sample)
        "training_buyers": int((~sp.validation).sum()),
        "share_without_purchase": _round(float(quiet.mean())),
        "recency_auc": _round(auc(recency, quiet[val])),
        "auc": {name: _round(a) for name, a in sorted(aucs.items())},
        "default": FALLBACK,
        # per candidate: (its AUC - the default's) / DeLong's standard error of that paired difference
        "z_over_default": {name: round(z, 2) for name, z in sorted(margins.items())},
        "z_needed": round(_z_needed(len(margins)), 2),
        "holdout_error": errors,
    }
    selection = Selection(
        churn_signal=chosen,
        purchase_model=purchase_model,
        horizon_days=horizon_days,
        blend_with=best_model_signal if chosen == "blend" else None,
        evidence=evidence,
    )
    return Choice(selection, model if chosen in CLASSIFIED else None), notes
