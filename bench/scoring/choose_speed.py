"""The batch's CPU phases on their own: "choose" (the split's fits, the classifier, the candidate signals),
"fit" (the live fits on everyone) and "score", as `batch.runner._compute` runs them (selection/calibrate.py
`fit_and_choose`, compute/score.py `cut_and_score`), on a synthetic base held in memory (no database:
bench/scoring/synth.py draws MBG/NBD purchases, compute/summary.aggregate summarises them as of the run's date
and one churn horizon before). Issue 12: the whole batch at 1M customers / 10M orders under 30 s.

Prints each phase's wall seconds and the CPU seconds of all threads per run, with the refit's threads and one
step after the other (`parallel=False`: the same work in order), the first run of each mode cold (no previous
fits, multi-start searches), the next ones from the previous run's fits as a scheduled batch. In parallel mode
the live fits overlap the choice, so "choose" holds both and "fit" only what outlasted it. Not a test.

    .venv/bin/python bench/scoring/choose_speed.py --customers 200000
    flock /tmp/heavy.lock .venv/bin/python bench/scoring/choose_speed.py   # 1M customers

Measured at 995,128 customers / 9.7M orders (2 vCPUs, shared: other jobs ran at the same time, so single
runs vary by 30% and more), seconds (choose + fit + score):
    before (git HEAD code, same base):  cold 6.2 + 5.5 + 4.4 = 16.0   warm 7.7 + 1.1 + 3.1 = 11.9
    after, one step after the other:   cold 2.7 + 1.8 + 1.6 =  6.1   warm 2.4 + 0.8 + 1.5 =  4.7  (CPU 5.1)
    after, in threads:                 cold 3.1 (both)  + 1.1 =  4.3   warm 3.1 (both)  + 1.0 =  4.1  (CPU 6.4)
Old and new code run back to back on a busier machine: warm 11.1 s before, 5.3 s after (cold 13.7, 5.9). The
choice is the same: the same signal, purchase model and AUCs to four digits.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

from crm_scoring.compute.score import Calibration, cut_and_score
from crm_scoring.compute.summary import Summaries, _assemble, aggregate, day_number
from crm_scoring.rules.schemas import Rules
from crm_scoring.selection.calibrate import fit_and_choose

sys.path[:0] = [str(Path(__file__).resolve().parent)]
from synth import PG_EPOCH, SynthParams, draw_arrays  # noqa: E402


def base(customers: int) -> Summaries:
    """Summaries as of the draw's date, with `.earlier` one churn horizon back (as `read_summaries` gives)."""
    params = SynthParams(customers=customers)
    drawn = draw_arrays(params)
    orders = drawn.orders
    kept = ~orders.is_cancelled  # cancelled before as_of (synth keeps every cancellation before it)
    ids = np.ascontiguousarray(drawn.customer_ids).view("V16").ravel()
    customer = ids[orders.customer[kept]]
    at = PG_EPOCH.timestamp() + orders.ordered_at[kept] / 1e6
    net = (orders.amount[kept] - orders.refunded[kept]) / 100.0
    del drawn, orders
    rules = Rules()
    as_of = params.as_of
    earlier = as_of - timedelta(days=rules.churn.horizon_days)
    window = rules.clv.trend_window_days
    now_ids, now_agg = aggregate(customer, at, net, day_number(as_of), window)
    then_ids, then_agg = aggregate(customer, at, net, day_number(earlier), window, keep=at <= earlier.timestamp())
    before = _assemble(then_ids, then_agg, None, earlier, rules.tenant)
    return _assemble(now_ids, now_agg, None, as_of, rules.tenant, before)


def run(summaries: Summaries, previous: Calibration, parallel: bool) -> tuple[dict[str, float], Calibration]:
    """One refit and score as the batch's `_compute` runs them, from `previous` (its fits are the searches'
    starts); `parallel=False`: the same work one step after the other."""
    rules = Rules()
    timings: dict[str, float] = {}
    cpu = time.process_time()
    done = fit_and_choose(summaries, previous.fits, rules, store=True, timings=timings, parallel=parallel)
    if done.notes:
        print("  notes:", done.notes)
    t = time.perf_counter()
    selection, classifier = (None, None) if done.choice is None else (done.choice.selection, done.choice.classifier)
    cal, _ = cut_and_score(summaries, rules, None, None, done.fits, selection, classifier, parallel=parallel)
    timings["score"] = time.perf_counter() - t
    # CPU seconds of all threads: the work itself, whatever else the machine's cores are doing meanwhile.
    timings["cpu"] = time.process_time() - cpu
    if selection is not None:
        print("  chosen:", selection.churn_signal, selection.purchase_model, selection.evidence["auc"])
    return timings, cal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each mode; the first is cold")
    parser.add_argument("--mode", choices=("both", "parallel", "sequential"), default="both")
    args = parser.parse_args()
    t = time.perf_counter()
    summaries = base(args.customers)
    assert summaries.earlier is not None
    print(
        f"base: {len(summaries):,} customers ({len(summaries.earlier):,} buyers at the split), "
        f"{int(summaries['n_orders'].sum()):,} orders, drawn and summarised in {time.perf_counter() - t:.1f} s"
    )
    # The first run of each mode starts from no fits (multi-start searches); the next ones from the previous
    # run's fits, as a scheduled batch does.
    modes = {"both": (False, True), "parallel": (True,), "sequential": (False,)}[args.mode]
    for parallel in modes:
        label = "parallel" if parallel else "sequential"
        cal = Calibration()
        warm: list[dict[str, float]] = []
        for i in range(args.repeat):
            timings, cal = run(summaries, cal, parallel)
            wall = sum(v for k, v in timings.items() if k != "cpu")
            line = "  ".join(f"{k} {v:.2f} s" for k, v in timings.items())
            print(f"{label} run {i + 1} ({'cold' if i == 0 else 'warm'}): {line}  wall {wall:.2f} s")
            if i:
                warm.append(timings)
        if warm:
            best = {k: min(r[k] for r in warm) for k in warm[0]}
            line = "  ".join(f"{k} {v:.2f} s" for k, v in best.items())
            print(f"{label} best warm: {line}")


if __name__ == "__main__":
    main()
