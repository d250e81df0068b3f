"""The client side of the batch's read (issue 12: batch 1M customers / 10M orders under 30 s, under 1 GB):
`aggregate` (orders -> per-customer aggregates, the whole base and the earlier split, as read_summaries does:
from one sort by `aggregate_split` where the side has it), `local_epochs` (with a zone other than UTC) and
`_assemble` (buyers joined with the known customers): the current code against a baseline revision of
compute/summary.py loaded from git (default: the one before the packed-key sorts and the threads), on the same arrays.

Synthesized in memory, no database: `--customers` random uuid4 ids (default 1M), `--orders` orders (default
10M) spread over them (a few customers buy nothing: prospects), times over 3 years to the microsecond (as
binary COPY gives them), nets with ~0.5% NaN (no rate), known customers in table order (shuffled), 95% known
by as_of. Each side runs in a fresh process, the steps in read_summaries' order (the orders dropped before the
assembly): each step's seconds (wall; and CPU, both threads', less sensitive to other load), the ratios, the
peak RSS during each step (VmHWM, reset before each step through /proc/self/clear_refs; the synthesized data
and the earlier steps' results included; glibc's mmap threshold fixed as the batch fixes it), and whether
both sides' outputs are bit-identical (a digest of every array). Not a test.

    flock /tmp/heavy.lock .venv/bin/python bench/scoring/read_speed.py [--customers 1000000] [--orders 10000000]
        [--zone UTC] [--baseline REV]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
import types
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from crm_scoring.batch.memory import map_large_allocations
from crm_scoring.compute import summary
from crm_scoring.rules.schemas import Tenant

REPO = Path(__file__).resolve().parents[2]
MODULE = "services/scoring/crm_scoring/compute/summary.py"
BASELINE = "35437f3abb004d1ec6a05d42ac8a8279d3aab72e"  # the S16 unique/searchsorted and the 3-key lexsort
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
EARLIER = AS_OF - timedelta(days=182)
YEARS = 3
WINDOW = 180


def baseline(revision: str) -> types.ModuleType:
    """compute/summary.py as it was at `revision`, loaded beside the current one (same package, so its relative
    imports resolve)."""
    source = subprocess.run(
        ["git", "show", f"{revision}:{MODULE}"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout
    module = types.ModuleType("crm_scoring.compute._summary_baseline")
    module.__package__ = "crm_scoring.compute"
    sys.modules[module.__name__] = module  # dataclasses look their module up there
    exec(compile(source, f"{revision[:8]}:{MODULE}", "exec"), module.__dict__)  # our own file, from git
    return module


def synthesize(customers: int, orders: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    raw = np.frombuffer(rng.bytes(16 * customers), dtype=np.uint8).reshape(-1, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # uuid4: version and variant bits
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    ids = raw.reshape(-1).view("V16")
    end_us = int(AS_OF.timestamp() * 1e6)
    span_us = YEARS * 365 * 86_400 * 1_000_000
    at = (end_us - rng.integers(0, span_us, orders)) / 1e6  # as binary_copy.unix_seconds: microseconds / 1e6
    net = rng.gamma(2.0, 40.0, orders).round(2)
    net[rng.random(orders) < 0.005] = np.nan
    customer = ids[rng.integers(0, customers, orders)]  # uniform: ~e^-10 of them buy nothing at 10 per customer
    table = rng.permutation(customers)  # known customers come in table order
    known = {
        "customer_id": ids[table],
        "prospect": rng.random(customers) < 0.95,
        "payment_terms": rng.integers(0, 5, customers).astype(np.int16),
        "brand_contribution": rng.integers(0, 4, customers).astype(np.int16),
        "declared_budget": np.where(rng.random(customers) < 0.5, np.nan, rng.gamma(2, 500, customers)),
        "share_of_wallet": np.where(rng.random(customers) < 0.7, np.nan, rng.random(customers)),
    }
    return {"customer": customer, "at": at, "net": net, "known": known}


def rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def digest(*arrays: np.ndarray) -> str:
    """What two runs must agree on: every array's dtype and bytes."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(str(a.dtype).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """One side's four steps in this (fresh) process, in read_summaries' order: seconds, the peak RSS above the
    RSS once the data is synthesized, and a digest of each step's output."""
    map_large_allocations()  # as the batch runs (batch/runner.py): arrays over 4 MB mapped on their own
    module = baseline(args.baseline) if args.side == "before" else summary
    data = synthesize(args.customers, args.orders, args.seed)
    tenant = Tenant(time_zone=args.zone)
    keep = data["at"] <= EARLIER.timestamp()
    as_of_day, then_day = summary.day_number(AS_OF, args.zone), summary.day_number(EARLIER, args.zone)
    c, at, net, known = data["customer"], data["at"], data["net"], data["known"]
    base = rss_mb("VmRSS")
    steps: dict[str, tuple[float, str, float, float]] = {}
    peak = [base]

    def timed(name: str, call: Callable[..., Any], *call_args: Any) -> Any:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM from here: this step's peak
        started, cpu = time.perf_counter(), time.process_time()
        result = call(*call_args)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        top = rss_mb("VmHWM")
        peak[0] = max(peak[0], top)
        if isinstance(result, np.ndarray):
            outputs = digest(result)
        elif isinstance(result, tuple) and isinstance(result[0], tuple):  # two aggregations
            outputs = digest(*(a for ids, agg in result for a in (ids, *agg.values())))
        elif isinstance(result, tuple):
            outputs = digest(result[0], *result[1].values())
        else:
            outputs = digest(*result.columns.values())
        steps[name] = (seconds, outputs, top, cpu)
        return result

    local = None if args.zone == "UTC" else timed("local_epochs", module.local_epochs, at, args.zone)

    def both(c: Any, at: Any, net: Any, local: Any, keep: Any) -> tuple[Any, Any]:
        """The whole base and the earlier split: from one sort where the module can (`aggregate_split`), else
        by two aggregations, the second through a `keep` mask."""
        if hasattr(module, "aggregate_split"):
            return module.aggregate_split(c, at, net, as_of_day, WINDOW, local, then_day, EARLIER.timestamp())
        return module.aggregate(c, at, net, as_of_day, WINDOW, local), module.aggregate(
            c, at, net, then_day, WINDOW, local, keep
        )

    now, then = timed("aggregate (as_of and earlier)", both, c, at, net, local, keep)
    del c, at, net, local, keep, data  # as read_summaries drops the orders before assembling
    earlier = timed("_assemble (earlier, buyers)", module._assemble, *then, None, EARLIER, tenant)
    timed("_assemble (as_of, with known)", module._assemble, *now, known, AS_OF, tenant, earlier)
    return {
        "steps": steps,
        "data_mb": base,
        "peak_mb": peak[0],
        "slices": f"{module.SLICE_ORDERS:,} orders x {getattr(module, 'READ_THREADS', 1)} thread(s)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--zone", default="UTC", help="tenant time zone: not UTC exercises local purchase days")
    parser.add_argument("--baseline", default=BASELINE, help="git revision of compute/summary.py to compare with")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--side", choices=("before", "after"), help=argparse.SUPPRESS)  # one side, in a child
    args = parser.parse_args()
    if args.side:
        print(json.dumps(run(args)))
        return
    sides = {}
    for side in ("before", "after"):  # each in a fresh process: its own peak RSS, no heap left by the other
        child = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:], "--side", side], check=True, capture_output=True, text=True
        )
        sides[side] = json.loads(child.stdout.splitlines()[-1])
    before, after = sides["before"], sides["after"]
    print(
        f"{args.orders:,} orders, {args.customers:,} customers, zone {args.zone}; before: {args.baseline[:10]} "
        f"({before['slices']}), after: this tree ({after['slices']})"
    )
    print(
        f"{'step':32s} {'before s':>9s} {'after s':>8s} {'ratio':>6s} {'CPU s before':>13s} {'after':>6s} "
        f"{'MB before':>10s} {'after':>6s}  same"
    )
    for name, (old_s, old_digest, old_mb, old_cpu) in before["steps"].items():
        new_s, new_digest, new_mb, new_cpu = after["steps"][name]
        print(
            f"{name:32s} {old_s:9.2f} {new_s:8.2f} {old_s / new_s:6.2f} {old_cpu:13.2f} {new_cpu:6.2f} "
            f"{old_mb:10.0f} {new_mb:6.0f}  {old_digest == new_digest}"
        )
    total_old, total_new = (sum(step[0] for step in side["steps"].values()) for side in (before, after))
    cpu_old, cpu_new = (sum(step[3] for step in side["steps"].values()) for side in (before, after))
    print(
        f"{'total':32s} {total_old:9.2f} {total_new:8.2f} {total_old / total_new:6.2f} {cpu_old:13.2f} {cpu_new:6.2f}"
    )
    for side in ("before", "after"):
        figures = sides[side]
        print(
            f"peak RSS {side}: {figures['peak_mb']:.0f} MB (synthesized data {figures['data_mb']:.0f} MB; the steps' "
            f"results held and working sets +{figures['peak_mb'] - figures['data_mb']:.0f} MB)"
        )
    if any(before["steps"][k][1] != after["steps"][k][1] for k in before["steps"]):
        sys.exit("DIFFERENT RESULTS")


if __name__ == "__main__":
    main()
