"""Scoring service benchmark: batch recompute of a synthetic base, and event-to-score latency.

Draws ~1,000,000 customers / ~10,000,000 orders (MBG/NBD purchase times, Gamma-Gamma spend), loads them
into a migrated scoring database with binary COPY, times the batch CLI (`python -m crm_scoring.batch`)
twice (first run inserts every score row, the second updates them; target: under 30 s and 1 GB, issue
12), then pushes single orders to the customer service and times each until the customer's score row shows it (target:
p95 under 1 s). Prints figures; not a test. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from crm_scoring.main import SERVICE_DIR
from crm_shared.embedded_pg import create_database, database_url, drop_database, start_embedded
from crm_shared.migrations import upgrade_head

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from common import machine_reference, percentile, postgres  # noqa: E402
from latency import LatencyResult, forget, measure  # noqa: E402
from synth import SynthParams, draw, dsn, load  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BATCH_TARGET_SECONDS = 30.0  # issue 12: 1M customers / 10M orders under 30 s
LATENCY_TARGET_SECONDS = 1.0
# Score state a previous run left in a reused base (the purchases and customers stay).
RESET_TABLES = (
    "customer_scores",
    "score_changes",
    "stage_changes",
    "calibrations",
    "batch_runs",
    "run_scores",
    "points_ledger",
    "outbox_messages",
    "inbox_events",
)


# --- the base ---------------------------------------------------------------------------------------


def signature(params: SynthParams) -> str:
    """What a reusable base was built from: the draw's inputs and the scoring migrations' text (a changed
    migration means a rebuild)."""
    migrations = sorted((SERVICE_DIR / "migrations" / "versions").glob("*.py"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in migrations)).hexdigest()[:12]
    return f"{params.signature} migrations={digest}"


async def _database_comment(admin_url: str, name: str) -> tuple[bool, str | None]:
    conn = await asyncpg.connect(dsn(database_url(admin_url, "postgres")))
    try:
        row = await conn.fetchrow(
            "SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1", name
        )
    finally:
        await conn.close()
    return row is not None, row["comment"] if row else None


async def _execute(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn(url))
    try:
        for stmt in statements:
            await conn.execute(stmt)
    finally:
        await conn.close()


def prepare_base(admin_url: str, params: SynthParams, *, reuse: str | None, jobs: int) -> str:
    """A migrated scoring database holding the base: a new one, or the `reuse` one if it was built from the
    same inputs (score tables emptied, so the first batch run inserts every row again)."""
    name = reuse or f"bench_scoring_{uuid.uuid4().hex[:8]}"
    url = database_url(admin_url, name)
    wanted = signature(params)
    if reuse:
        exists, comment = asyncio.run(_database_comment(admin_url, name))
        if exists and comment == wanted:
            print(f"reusing database {name} ({params.customers:,} customers)", flush=True)
            asyncio.run(
                _execute(
                    url,
                    f"TRUNCATE {', '.join(RESET_TABLES)}",
                    f"DELETE FROM purchases WHERE ordered_at > '{params.as_of.isoformat()}'",  # pushed by a crash
                )
            )
            return url
        if exists and not (comment or "").startswith("bench-scoring"):
            raise SystemExit(f"database {name} exists and was not built by this benchmark: pick another name")
        if exists:
            print(f"database {name} was built from other inputs: rebuilding it", flush=True)
            asyncio.run(drop_database(admin_url, name))
    asyncio.run(create_database(admin_url, name, exist_ok=False))
    if reuse:  # marked as ours at once, so a load that dies half-way is rebuilt next time
        asyncio.run(_execute(admin_url, f"COMMENT ON DATABASE \"{name}\" IS 'bench-scoring: loading'"))
    upgrade_head(SERVICE_DIR, url)
    print(f"drawing {params.customers:,} customers (~{params.orders_per_customer:g} orders each)...", flush=True)
    base = draw(params)
    print(
        f"generated {base.customers:,} customers, {base.orders:,} orders ({base.orders / base.customers:.2f} per"
        f" customer; {base.cancelled:,} cancelled, {base.refunded:,} partly refunded) in"
        f" {sum(base.seconds.values()):.1f} s (draw {base.seconds['draw']:.1f} s, encode to binary COPY"
        f" {base.seconds['encode']:.1f} s, {base.nbytes / 1e6:,.0f} MB)",
        flush=True,
    )
    rows = base.orders + base.customers
    seconds = asyncio.run(load(dsn(url), base, jobs=jobs))
    del base
    print(
        f"loaded in {sum(seconds.values()):.1f} s: COPY {seconds['copy']:.1f} s ({rows / seconds['copy']:,.0f} rows/s"
        f" over {jobs} + 1 connections), indexes {seconds['indexes']:.1f} s,"
        f" VACUUM ANALYZE {seconds['vacuum_analyze']:.1f} s",
        flush=True,
    )
    if reuse:
        asyncio.run(_execute(admin_url, f"COMMENT ON DATABASE \"{name}\" IS '{wanted}'"))
    return url


@contextmanager
def server(reuse: str | None, pg_dir: Path) -> Iterator[str]:
    """DATABASE_URL's server if set; else an embedded one, in a temporary folder unless the base is to be
    kept (`--reuse`), in `pg_dir` then."""
    if os.environ.get("DATABASE_URL") or not reuse:
        with postgres() as url:
            yield url
        return
    handle, url = start_embedded(pg_dir)
    try:
        yield url
    finally:
        handle.cleanup()  # type: ignore[attr-defined]


# --- batch ------------------------------------------------------------------------------------------


@dataclass
class BatchTiming:
    wall: float  # the CLI process, start to exit (interpreter start and imports included)
    stats: dict[str, Any]
    cpu: float  # user + system seconds of the batch process (all its threads)
    max_rss_mb: float | None  # None: not measured (a wrapper process in between)
    postgres_cpu: float | None  # server-side seconds over the same interval (None: server not local)


def postgres_cpu_seconds(admin_url: str) -> float | None:
    """CPU time of the PostgreSQL server so far (postmaster, its live children, and its reaped children),
    from /proc; None when the server does not run on this machine."""

    async def data_directory() -> str:
        conn = await asyncpg.connect(dsn(admin_url))
        try:
            return str(await conn.fetchval("SHOW data_directory"))
        finally:
            await conn.close()

    try:
        postmaster = int((Path(asyncio.run(data_directory())) / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, asyncpg.PostgresError):
        return None
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == postmaster:
            ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        elif ppid == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _vm_hwm_kb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def run_batch(
    admin_url: str, url: str, as_of: datetime | None, *, refit: bool, wrap: list[str] | None = None
) -> BatchTiming:
    """`python -m crm_scoring.batch` as its own process, as an operator or a cron job would run it (as of now
    it stores; a past as_of is a backtest)."""
    cmd = [sys.executable, "-m", "crm_scoring.batch"]
    cmd += (["--as-of", as_of.isoformat()] if as_of else []) + ([] if refit else ["--no-refit"])
    env = {**os.environ, "SCORING_DATABASE_URL": url, "SCORING_LOG_LEVEL": "WARNING", "SCORING_SUBSCRIBERS": "[]"}
    before = postgres_cpu_seconds(admin_url)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen((wrap or []) + cmd, env=env, stdout=out, stderr=err)
        peak_kb = 0.0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            # The high-water mark of the running process: ru_maxrss would also count this process's memory,
            # which the child carries until its exec.
            peak_kb = _vm_hwm_kb(proc.pid) or peak_kb
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    after = postgres_cpu_seconds(admin_url)
    if proc.returncode != 0:
        raise SystemExit(f"batch exited with {proc.returncode}:\n{stderr[-4000:]}")
    stats, _ = json.JSONDecoder().raw_decode(stdout[stdout.index("{") :])  # a wrapper may print after it
    return BatchTiming(
        wall=wall,
        stats=stats,
        cpu=usage.ru_utime + usage.ru_stime,
        max_rss_mb=None if wrap else peak_kb / 1024,
        postgres_cpu=None if before is None or after is None else after - before,
    )


def print_batch(label: str, b: BatchTiming, reference: float | None = None) -> None:
    """`reference`: common.machine_reference() measured just before the run (the machine's speed then)."""
    timings = b.stats.get("timings", {})
    total = float(timings.get("total", b.wall))
    phases = ", ".join(f"{k} {float(v):.2f}" for k, v in timings.items() if not isinstance(v, dict) and k != "total")
    read_steps = ", ".join(f"{k} {float(v):.2f}" for k, v in timings.get("read_steps", {}).items())
    steps = ", ".join(f"{k} {float(v):.2f}" for k, v in timings.get("write_steps", {}).items())
    counts = {
        k: v
        for k, v in b.stats.items()
        if isinstance(v, int) and not isinstance(v, bool) and k not in ("run_id", "calibration_id")
    }
    pg = f", PostgreSQL CPU {b.postgres_cpu:.1f} s" if b.postgres_cpu is not None else ""
    share = b.wall / BATCH_TARGET_SECONDS
    print(f"{label}: {b.wall:.2f} s wall for the CLI process ({share:.2f}x the {BATCH_TARGET_SECONDS:.0f} s target)")
    if reference is not None:
        print(f"    machine reference just before: {reference:.3f} s (wall / reference {b.wall / reference:.0f})")
    print(f"    runner total {total:.2f} s; phases (s): {phases}")
    if read_steps:
        print(f"    read steps (s): {read_steps}")
    if steps:
        print(f"    write steps (s): {steps}")
        locked = sum(float(timings["write_steps"].get(k, 0)) for k in ("catch_up", "swap", "history_and_events"))
        print(f"    event writers locked out for {locked:.2f} s (catch-up, swap, history and events)")
    rss = f", peak RSS {b.max_rss_mb:,.0f} MB" if b.max_rss_mb is not None else ""
    print(f"    batch process CPU {b.cpu:.1f} s{rss}{pg}")
    print(f"    {', '.join(f'{k} {v:,}' for k, v in counts.items())}", flush=True)


PROFILE_RATE = 200  # py-spy samples per second and thread
# Leaf frames of a thread that is blocked, which py-spy does not always drop as idle.
WAITING = ("EpollSelector.select (selectors.py)", "_worker (concurrent/futures/thread.py)")


def _frame(raw: str) -> str:
    """`fit (crm_scoring/clv/_nbd.py:84)` -> `fit (crm_scoring/clv/_nbd.py)`: functions, not lines."""
    name, _, where = raw.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0].rstrip(')')})"


def profile_batch(admin_url: str, url: str, as_of: datetime | None, out_dir: Path) -> None:
    """One more run under py-spy, sampling the batch process's threads (PostgreSQL's own work shows as the
    process waiting, which py-spy leaves out): prints where the Python CPU goes, per function of the scoring
    package (inclusive) and per leaf function, and keeps the raw stacks (flamegraph.pl input)."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        print("py-spy is not installed in the venv: no profile")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / "batch.pyspy.txt"
    wrap = [str(spy), "record", "--rate", str(PROFILE_RATE), "--format", "raw", "--output", str(raw), "--"]
    print_batch("profiled run (under py-spy)", run_batch(admin_url, url, as_of, refit=True, wrap=wrap))
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    waiting = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_frame(f) for f in stack.split(";")]
        if frames[-1] in WAITING:
            waiting += int(count)
            continue
        own[frames[-1]] = own.get(frames[-1], 0) + int(count)
        for f in set(frames):
            if "crm_scoring/" in f and not f.startswith("<module>"):  # imports aside
                inclusive[f] = inclusive.get(f, 0) + int(count)
    print(
        f"    Python seconds sampled: {sum(own.values()) / PROFILE_RATE:.1f} running, {waiting / PROFILE_RATE:.1f}"
        f" waiting (event loop on the database, idle worker thread); raw stacks in {raw}"
    )
    print("    scoring functions, inclusive seconds:")
    for f, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:20]:
        print(f"      {n / PROFILE_RATE:7.1f}  {f}")
    print("    leaf functions, own seconds:")
    for f, n in sorted(own.items(), key=lambda kv: -kv[1])[:12]:
        print(f"      {n / PROFILE_RATE:7.1f}  {f}")


# --- latency ----------------------------------------------------------------------------------------


def print_latency(r: LatencyResult, when: str = "idle") -> None:
    s = r.seconds
    if not s:
        print(f"event-to-score latency ({when}): no order scored ({r.timeouts} timeouts)")
        return
    under = sum(v < LATENCY_TARGET_SECONDS for v in s) / len(s)
    p95 = percentile(s, 0.95)
    print(
        f"event-to-score latency ({when}) over {len(s)} single orders (one at a time, customers with"
        f" {min(r.history_orders)}-{max(r.history_orders)} orders, median {sorted(r.history_orders)[len(s) // 2]}):"
    )
    print(
        f"    p50 {percentile(s, 0.5) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, p99 {percentile(s, 0.99) * 1000:.0f} ms,"
        f" max {max(s) * 1000:.0f} ms; {under:.1%} under 1 s (target p95 < 1 s: {'met' if p95 < 1 else 'NOT met'})"
    )
    print(
        f"    of which POST /api/v1/orders answered: p50 {percentile(r.response_seconds, 0.5) * 1000:.0f} ms,"
        f" p95 {percentile(r.response_seconds, 0.95) * 1000:.0f} ms"
    )
    if r.pickup_seconds:
        print(
            f"    order commit -> outbox relay claim: p50 {percentile(r.pickup_seconds, 0.5) * 1000:.0f} ms,"
            f" p95 {percentile(r.pickup_seconds, 0.95) * 1000:.0f} ms"
        )
    if r.timeouts or r.unexpected_counts:
        print(f"    {r.timeouts} timed out; {r.unexpected_counts} changed to an unexpected order_count")


# --- main -------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders-per-customer", type=float, default=10.0, help="target mean (incl. the first)")
    parser.add_argument("--seed", type=int, default=SynthParams.seed)
    parser.add_argument(
        "--reuse",
        metavar="NAME",
        help="keep the loaded base in database NAME and reuse it on later runs with the same inputs "
        "(embedded server in --pg-dir unless DATABASE_URL is set)",
    )
    parser.add_argument("--pg-dir", type=Path, default=REPO / ".data" / "bench-pg", help="with --reuse")
    parser.add_argument("--copy-jobs", type=int, default=2, help="parallel COPY connections for purchases")
    parser.add_argument("--batch-runs", type=int, default=2, help="timed batch runs (0: none)")
    parser.add_argument(
        "--as-of", type=datetime.fromisoformat, default=None, help="time a backtest as of this past instant instead"
    )
    parser.add_argument("--no-refit", action="store_true", help="also time a run that keeps the fits")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="one more batch run under py-spy")
    parser.add_argument("--latency-orders", type=int, default=200, help="single orders timed (0: skip)")
    parser.add_argument("--latency-timeout", type=float, default=15.0, help="seconds to wait per order")
    parser.add_argument("--min-history", type=int, default=10, help="orders a latency customer has already")
    parser.add_argument(
        "--no-latency-during-batch", action="store_true", help="skip timing orders pushed while a batch runs"
    )
    args = parser.parse_args()

    params = SynthParams(customers=args.customers, orders_per_customer=args.orders_per_customer, seed=args.seed)
    with server(args.reuse, args.pg_dir.resolve()) as admin_url:
        url = prepare_base(admin_url, params, reuse=args.reuse, jobs=args.copy_jobs)
        pushed: list[uuid.UUID] = []
        try:
            if args.batch_runs:
                flag = f" --as-of {args.as_of.isoformat()}" if args.as_of else ""
                print(f"timing `python -m crm_scoring.batch{flag}`...", flush=True)
            for i in range(args.batch_runs):
                label = "batch run 1 (inserts every score row)" if i == 0 else f"batch run {i + 1} (updates them)"
                reference = machine_reference()
                print_batch(label, run_batch(admin_url, url, args.as_of, refit=True), reference)
            if args.no_refit:
                print_batch("batch run without refit", run_batch(admin_url, url, args.as_of, refit=False))
            if args.profile:
                profile_batch(admin_url, url, args.as_of, args.profile)
            if args.latency_orders > 0:
                print(f"pushing {args.latency_orders} single orders through the customer service...", flush=True)
                idle = measure(
                    admin_url,
                    url,
                    orders=args.latency_orders,
                    min_orders=args.min_history,
                    timeout=args.latency_timeout,
                    seed=args.seed,
                )
                pushed += idle.pushed
                print_latency(idle)
            if args.latency_orders > 0 and args.batch_runs and not args.no_latency_during_batch:
                print("pushing single orders while a batch run writes...", flush=True)
                during = measure(
                    admin_url,
                    url,
                    orders=0,
                    min_orders=args.min_history,
                    timeout=args.latency_timeout,
                    seed=args.seed + 1,
                    alongside=lambda: run_batch(admin_url, url, args.as_of, refit=True),
                )
                pushed += during.pushed
                print_batch("batch run with orders arriving", during.alongside)
                print_latency(during, "while the batch ran")
        finally:
            if args.reuse:
                forget(url, pushed)
            else:
                asyncio.run(drop_database(admin_url, make_url(url).database or ""))


if __name__ == "__main__":
    main()
