"""A batch's refit: the purchase and spend models fitted on everyone, and the churn signal and purchase model
chosen on the split one horizon back (choose.py), overlapped on the machine's cores.

The two are independent until the end: the live fits of the scoring models do not depend on what is chosen
(only a chosen model outside them is fitted after), and within the choice the classifier needs no fit. So the
live fits, the split's fits and the classifier run at once in threads (NumPy, SciPy's special functions and
scikit-learn's tree code release the GIL), where one after the other left a core idle behind each long pole
(Pareto/NBD's fit on the split, the classifier, the live BG/NBD fit). The result is the same either way
(tests/scoring/test_refit_parallel.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

from ..clv._blas import single_thread
from ..clv._fit import FitResult
from ..compute.fitting import BACKTEST_PURCHASE_MODELS, LIVE_PURCHASE_MODELS, fit_models
from ..compute.model_inputs import model_inputs, sample
from ..compute.summary import Summaries
from ..rules.schemas import Rules
from .choose import Choice, choose
from .signals import needed_models

# Buyers the models are fitted on to judge the churn candidates (the live fits take everyone): Pareto/NBD's fit
# on 200k buyers took 6 s, and the four parameters barely move beyond this many. (Since its series runs per
# distinct endpoint, clv/_pareto.py, that fit takes 0.9 s CPU on 100k buyers and 1.5 s on 200k: the sample is
# kept for what it was chosen for, the parameters' precision, not for the fit's cost.)
CHOICE_FIT_SAMPLE = 100_000

T = TypeVar("T")


@dataclass(frozen=True)
class Fitted:
    fits: dict[str, FitResult]
    choice: Choice | None
    notes: list[str] = field(default_factory=list)


def _start(pool: ThreadPoolExecutor | None, job: Callable[..., T], *args: Any, **kwargs: Any) -> Callable[[], T]:
    """The job's result getter: run in the pool from now on, or (no pool: the sequential path) when first asked."""
    if pool is not None:
        return pool.submit(job, *args, **kwargs).result
    return cache(lambda: job(*args, **kwargs))


def fit_and_choose(
    summaries: Summaries,
    previous: Mapping[str, FitResult],
    rules: Rules,
    *,
    store: bool,
    timings: dict[str, Any] | None = None,
    parallel: bool = True,
    split: list[Summaries] | None = None,
) -> Fitted:
    """The fits to score `summaries` with and, when there is an earlier split, the choice of signal and purchase
    model. The split is `summaries.earlier`, or the one in `split`: taken out of that list and so freed once
    the choice is made (~180 MB at 1M). `previous`: the current fits, each model's single start. `store`: a
    live run (the live purchase models) or a backtest (all of them). `timings` gets "choose" (until the
    choice is made) and "fit" (the rest: the live fits that outlasted it and a chosen model's own fit)."""
    if split is None:
        split = [] if summaries.earlier is None else [summaries.earlier]
    timings = {} if timings is None else timings
    unit_days = rules.clv.unit_days
    base = LIVE_PURCHASE_MODELS if store else BACKTEST_PURCHASE_MODELS
    started = time.perf_counter()
    notes: list[str] = []
    choice = None
    mi = model_inputs(summaries, unit_days)
    pool: ThreadPoolExecutor | None = ThreadPoolExecutor(2, thread_name_prefix="refit") if parallel else None
    try:
        live = _start(pool, fit_models, mi, previous, base)
        if split:
            earlier = split.pop()
            then = sample(model_inputs(earlier, unit_days), CHOICE_FIT_SAMPLE)
            fitted_then = _start(pool, fit_models, then, previous, BACKTEST_PURCHASE_MODELS, spend=False)
            # One BLAS thread here (the fits set theirs): OpenBLAS's pool spins waiting for a core the other
            # threads hold, costing CPU for nothing (see clv/_blas.py).
            with single_thread():
                choice, choice_notes = choose(earlier, summaries, lambda: fitted_then()[0], rules.churn, unit_days)
            notes.extend(choice_notes)
            del earlier, then
        timings["choose"] = time.perf_counter() - started
        fits, fit_notes = live()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    notes.extend(fit_notes)
    if choice is not None:
        selection = choice.selection
        chosen = needed_models(selection.purchase_model, selection.churn_signal, selection.blend_with)
        extra = tuple(m for m in chosen if m.name not in {b.name for b in base})
        if extra:
            more, more_notes = fit_models(mi, previous, extra, spend=False)
            fits.update(more)
            notes.extend(more_notes)
    timings["fit"] = time.perf_counter() - started - timings["choose"]
    return Fitted(fits, choice, notes)
