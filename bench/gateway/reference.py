"""The customer read against a bare reference (issue 13, "the gateway's own cost"): in one run, on one
database, `GET /api/v1/customers/{id}` (a) through the gateway to the customer service, (b) to the service
directly, and (c) to a bare Starlette + asyncpg app running the service's statement (bare_read.py), each
its own uvicorn process; prints req/s, p50/p99 and CPU per request per process, and the service's (and
gateway+service's) req/s as a share of the bare app's (see bench/README.md).

    .venv/bin/python bench/gateway/reference.py [--customers 10000] [--seconds 10] [--rounds 3]
        [--baseline PYTHONPATH]

`--baseline DIR`: a second customer service on the same database, started with DIR first on its PYTHONPATH (a
copy of an earlier crm_shared or crm_customer, e.g. from `git show`), measured directly in the same alternating
rounds as `baseline`: a change's before and after in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bare_read import SQL
from common import postgres, suite
from proxy_only import cpu_seconds
from run import PRINCIPAL, load, wrk_load

from crm_shared.testing import ServerProcess

HERE = Path(__file__).resolve().parent

# Customers drawn in SQL, like the API writes them: a name, contact data, the bench partner's reference
# and, for one in three, another partner's (filtered out of the partner's view).
SEED = """
WITH c AS (
  INSERT INTO customers (kind, display_name, first_name, last_name, email, phone, address, declared_budget,
                         time_zone)
  SELECT 'individual', 'Bench ' || i, 'Bench', i::text, 'bench' || i || '@example.com',
         '+3460' || lpad(i::text, 7, '0'),
         jsonb_build_object('line1', 'Calle ' || i, 'city', 'Madrid', 'postal_code', '28001', 'country', 'ES'),
         (i % 1000) * 12.5, 'Europe/Madrid'
  FROM generate_series(1, $1) AS i
  RETURNING id, last_name
), refs AS (
  INSERT INTO customer_refs (partner, external_id, customer_id)
  SELECT 'bench-partner', 'GWC-' || last_name, id FROM c
  UNION ALL SELECT 'shop-b', 'B-' || last_name, id FROM c WHERE last_name::int % 3 = 0
)
SELECT id FROM c
"""


async def seed(db_url: str, n: int, sample: int) -> list[str]:
    conn = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        ids = [str(r["id"]) for r in await conn.fetch(SEED, n)]
        await conn.execute("VACUUM ANALYZE customers")
        await conn.execute("VACUUM ANALYZE customer_refs")
    finally:
        await conn.close()
    step = max(1, len(ids) // sample)
    return ids[::step][:sample]


def measure(
    base: str, auth: dict[str, str], ids: list[str], pids: dict[str, int], args: argparse.Namespace, use_wrk: bool
) -> dict[str, float]:
    """One closed-loop measurement after a warm-up, with each process's CPU over the measured seconds."""
    opts = {"concurrency": args.concurrency, "seconds": args.seconds}
    cycle = itertools.cycle(ids)
    make = lambda: ("GET", f"/api/v1/customers/{next(cycle)}", None)  # noqa: E731
    env = {"CUSTOMER_IDS": ",".join(ids)}
    if use_wrk:
        wrk_load(base, auth, "wrk_read.lua", env, concurrency=args.concurrency, seconds=args.warmup, warmup=0)
    else:
        asyncio.run(load(base, auth, make, concurrency=args.concurrency, seconds=args.warmup, warmup=0))
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = time.process_time()
    if use_wrk:
        rate, p50, p99, errors = wrk_load(base, auth, "wrk_read.lua", env, **opts, warmup=0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        loadgen = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    else:
        rate, lat, errors = asyncio.run(load(base, auth, make, **opts, warmup=0))
        lat.sort()
        p50, p99 = statistics.median(lat) * 1e3, lat[int(len(lat) * 0.99) - 1] * 1e3
        loadgen = time.process_time() - own
    requests = rate * args.seconds
    cpu = {name: (cpu_seconds(pid) - before[name]) / requests * 1e6 for name, pid in pids.items()}
    return {"rps": rate, "p50": p50, "p99": p99, "errors": errors, **cpu, "loadgen": loadgen / requests * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=1_000, help="customers read, spread over the base")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the three targets; medians printed")
    parser.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--show-sql", action="store_true", help="print the service's compiled statement and exit")
    parser.add_argument("--baseline", help="PYTHONPATH of an earlier version of the service, measured as `baseline`")
    args = parser.parse_args()
    if args.show_sql:
        print(service_sql())
        return
    if service_sql() != SQL:  # the reference must run what the service runs
        sys.exit(f"bare_read.SQL differs from the service's statement:\n{service_sql()}")
    use_wrk = args.tool == "wrk" or (args.tool == "auto" and shutil.which("wrk") is not None)

    with postgres() as admin_url, suite(admin_url) as s:
        ids = asyncio.run(seed(s.db_url, args.customers, args.sample))
        bare = ServerProcess(
            "bare_read:create_app",
            {
                "BARE_DATABASE_URL": s.db_url,
                "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
            },
        )
        baseline = None
        if args.baseline:
            path = os.pathsep.join([args.baseline, os.environ.get("PYTHONPATH", "")])
            env = {"CUSTOMER_DATABASE_URL": s.db_url, "CUSTOMER_LOG_LEVEL": "WARNING", "CUSTOMER_SUBSCRIBERS": "[]"}
            baseline = ServerProcess("crm_customer.main:create_app", {**env, "PYTHONPATH": path})
        try:
            bare.wait_ready("/healthz")
            service, gateway = s.service.proc.pid, s.gateway.proc.pid
            key = {"Authorization": f"Bearer {s.api_key}"}
            targets = {
                "gateway": (s.gateway.url, key, {"gateway": gateway, "service": service}),
                "direct": (s.service.url, PRINCIPAL, {"service": service}),
                "bare": (bare.url, {}, {"bare": bare.proc.pid}),
            }
            if baseline is not None:
                baseline.wait_ready()
                targets["baseline"] = (baseline.url, PRINCIPAL, {"service": baseline.proc.pid})
            runs: dict[str, list[dict[str, float]]] = {t: [] for t in targets}
            for _ in range(args.rounds):
                for name, (base, auth, pids) in targets.items():
                    runs[name].append(measure(base, auth, ids, pids, args, use_wrk))
        finally:
            bare.stop()
            if baseline is not None:
                baseline.stop()

    print(
        f"\ncustomer read, {args.customers:,} customers ({len(ids)} read in turn), "
        f"{'wrk' if use_wrk else 'python/aiohttp'}, {args.concurrency} connections, {args.seconds:.0f} s per "
        f"measurement, {args.rounds} alternating rounds (medians), 1 worker each, {os.cpu_count()} cores"
    )
    print(f"{'target':<9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}  CPU us/request")
    med: dict[str, dict[str, float]] = {}
    for name, rs in runs.items():
        med[name] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        med[name]["errors"] = sum(r["errors"] for r in rs)
        m = med[name]
        cpu = ", ".join(f"{k} {v:.0f}" for k, v in m.items() if k not in ("rps", "p50", "p99", "errors"))
        print(f"{name:<9}{m['rps']:>9,.0f}{m['p50']:>9.2f}{m['p99']:>9.2f}{m['errors']:>8.0f}  {cpu}")
    bare_rps = med["bare"]["rps"]
    print(
        f"service direct: {med['direct']['rps'] / bare_rps:.0%} of the bare app's req/s; "
        f"gateway + service: {med['gateway']['rps'] / bare_rps:.0%}; "
        f"service CPU/request {med['direct']['service'] / med['bare']['bare']:.1f}x the bare app's"
    )
    if "baseline" in med:
        print(
            f"baseline (direct): {med['baseline']['rps'] / bare_rps:.0%} of the bare app's req/s; this service "
            f"{med['direct']['rps'] / med['baseline']['rps']:.2f}x its req/s, CPU/request "
            f"{med['direct']['service']:.0f} vs {med['baseline']['service']:.0f} us"
        )


def service_sql() -> str:
    """The statement the service's customer read issues (its repository's own), compiled as its engine does."""
    from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg

    from crm_customer.customers.repository import READ_BY_ID

    return str(READ_BY_ID.compile(dialect=pg_asyncpg.dialect()))


if __name__ == "__main__":
    main()
