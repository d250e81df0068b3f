"""Read latency of the customer service while its name-groups worker catches up (issue 13).

A migrated customer database gets `--customers` individuals without a company and `--companies` companies with
their members (2 + Poisson(4) each, 1% of the companies 50-200; names from bench/reads' vocabulary, a
`--variants` share of them a near variant of another member's name: case, punctuation, a typo). The marks the
load left are dropped, the service starts as its own process with its worker on, and one client reads in a
closed loop (a customer by id, the first customers page, the name duplicates listing; `--gap-ms` between
rounds): first with nothing to recompute (`--idle-seconds`), then while every company is marked at once (as
after a large import) until the worker has caught up, then idle again. Prints p50/p95/max per read and phase,
the catch-up time and the service's CPU seconds in it.

    .venv/bin/python bench/hygiene/name_groups.py [--companies 20000] [--customers 100000]

The code measured is the installed crm_customer; PYTHONPATH=<an export of another revision>/services/customer
measures that one (the service process inherits the environment), e.g. the difflib thread before issue 13's fix:
    git archive <rev> services/customer | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old/services/customer .venv/bin/python bench/hygiene/name_groups.py

Measured 2026-12-02 with the defaults (100,000 individuals, 20,000 companies with 139,118 members, 5,897 groups),
the two runs back to back on 2 cores (load average 1.3-2.4); p50 / p95 in ms, customer by id, first customers
page, name duplicates listing:
- before (difflib on every pair in a thread; its claim statement fixed as below, else it never finished):
  catch-up 24.6 s, service CPU 21.5 s; reads idle 6.1/7.4, 9.1/11.9, 4.7/5.8; during the catch-up
  33.0/44.6, 48.7/75.5, 49.6/83.5 (max 190).
- after (the LCS bound in C, difflib only above it, on the event loop in 0.5 ms slices, a rest as long as each
  pass): catch-up 8.9 s, service CPU 3.9 s (the reads' included); reads idle 5.9/6.9, 9.3/11.6, 4.8/5.8; during
  the catch-up 6.6/11.1, 11.0/19.7, 11.4/21.5 (the listing also counts the companies pending). Without the rest
  the catch-up took 4.7-6.1 s and reads 11-16 ms at p50 during it.
The first customers page has a ~100 ms maximum idle as well. Clustering alone (no database) on these members:
0.8-1.2 s against 14-15 s with difflib on every pair.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "bench"), str(REPO / "bench" / "reads"), str(REPO / "bench" / "scoring")]
from base import FIRST_NAMES, _last_names  # noqa: E402  (bench/reads' name vocabulary)
from common import new_database, percentile, postgres  # noqa: E402

import crm_customer  # noqa: E402
from crm_shared.embedded_pg import asyncpg_dsn  # noqa: E402
from crm_shared.testing import ServerProcess, user_headers  # noqa: E402

STAFF = user_headers("bench", "customers:read", "pii:read")
READS = ("customer by id", "customers first page", "duplicates reason=name")
COLUMNS = ("id", "kind", "display_name", "first_name", "last_name", "company_name", "company_id")


def variant(rng: random.Random, name: str) -> str:
    """A name a person could type for the same one: other case, punctuation or spacing, one character off."""
    pick, at = rng.random(), rng.randrange(len(name))
    if pick < 0.3:
        return name.upper()
    if pick < 0.5:
        return name.replace(" ", ",  ") + "."
    if pick < 0.8:
        return name[:at] + rng.choice("aeiouy") + name[at + 1 :]
    return name[:at] + name[at + 1 :]


def draw_rows(args: argparse.Namespace) -> tuple[list[tuple[object, ...]], list[uuid.UUID]]:
    rng = random.Random(args.seed)
    lasts = _last_names(np.random.default_rng(args.seed), 1000)

    def person() -> tuple[str, str]:
        return rng.choice(FIRST_NAMES), rng.choice(lasts)

    rows: list[tuple[object, ...]] = []
    for _ in range(args.customers):
        first, last = person()
        rows.append((uuid.uuid4(), "individual", f"{first} {last}", first, last, None, None))
    companies = [uuid.uuid4() for _ in range(args.companies)]
    np_rng = np.random.default_rng(args.seed)
    sizes = 2 + np_rng.poisson(4, args.companies)
    big = np_rng.random(args.companies) < 0.01
    sizes[big] = np_rng.integers(50, 201, int(big.sum()))
    for company, size in zip(companies, sizes.tolist(), strict=True):
        rows.append((company, "company", f"Co {company.hex[:8]}", None, None, f"Co {company.hex[:8]}", None))
        names: list[str] = []
        for _ in range(size):
            if names and rng.random() < args.variants:
                names.append(variant(rng, rng.choice(names)))
            else:
                names.append(" ".join(person()))
        rows.extend((uuid.uuid4(), "individual", n, None, None, None, company) for n in names)
    return rows, companies


async def load(dsn: str, rows: list[tuple[object, ...]]) -> float:
    t0 = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        # Companies before their members (the company_id foreign key): they come first in each company's run.
        rows = sorted(rows, key=lambda r: r[1] != "company")
        await conn.copy_records_to_table("customers", records=rows, columns=COLUMNS)
        await conn.execute("TRUNCATE name_group_marks")  # the load's marks: the service starts current...
        await conn.execute("TRUNCATE name_groups")  # ...with nothing kept (the catch-up below fills it)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - t0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


class Reader:
    def __init__(self, client: httpx.AsyncClient, ids: list[uuid.UUID], gap: float, seed: int) -> None:
        self.client, self.ids, self.gap, self.rng = client, ids, gap, random.Random(seed)
        self.pending = -1

    async def round(self, into: dict[str, list[float]]) -> None:
        paths: tuple[tuple[str, dict[str, str | int]], ...] = (
            (f"/api/v1/customers/{self.rng.choice(self.ids)}", {}),
            ("/api/v1/customers", {"limit": 20}),
            ("/api/v1/customers/duplicates", {"reason": "name", "limit": 20}),
        )
        for name, (path, params) in zip(READS, paths, strict=True):
            t0 = time.perf_counter()
            r = await self.client.get(path, params=params)
            into[name].append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, r.text
            if name == READS[2]:
                self.pending = r.json()["pending_companies"]
        await asyncio.sleep(self.gap)

    async def for_seconds(self, seconds: float) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {n: [] for n in READS}
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            await self.round(out)
        return out

    async def until_current(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {n: [] for n in READS}
        while self.pending != 0:
            await self.round(out)
        return out


def report(phase: str, timings: dict[str, list[float]]) -> None:
    for name, values in timings.items():
        print(
            f"  {phase:<10} {name:<24} n={len(values):>5}  p50 {percentile(values, 0.5):7.1f}  "
            f"p95 {percentile(values, 0.95):7.1f}  max {max(values):7.1f} ms"
        )


async def measure(args: argparse.Namespace, dsn: str, service: ServerProcess, companies: list[uuid.UUID]) -> None:
    conn = await asyncpg.connect(dsn)
    async with httpx.AsyncClient(base_url=service.url, headers=STAFF, timeout=60) as client:
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM customers ORDER BY random() LIMIT 2000")]
        reader = Reader(client, ids, args.gap_ms / 1000, args.seed)
        await reader.for_seconds(2)  # warm-up: connections, caches
        before = await reader.for_seconds(args.idle_seconds)
        cpu0, t0 = cpu_seconds(service.proc.pid), time.perf_counter()
        await conn.execute("INSERT INTO name_group_marks (company_id) SELECT unnest($1::uuid[])", companies)
        reader.pending = -1
        during = await reader.until_current()
        catch_up, cpu = time.perf_counter() - t0, cpu_seconds(service.proc.pid) - cpu0
        after = await reader.for_seconds(args.idle_seconds)
        groups = await conn.fetchval("SELECT count(*) FROM name_groups")
    await conn.close()
    print(
        f"catch-up: {len(companies):,} companies in {catch_up:.1f} s ({len(companies) / catch_up:,.0f}/s), "
        f"service CPU {cpu:.1f} s, {groups:,} groups kept"
    )
    print("read latency (one client, closed loop):")
    report("idle", before)
    report("catch-up", during)
    report("after", after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=100_000, help="individuals without a company")
    parser.add_argument("--variants", type=float, default=0.05, help="share of members named like another")
    parser.add_argument("--gap-ms", type=float, default=20.0, help="pause between two rounds of reads")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    print(f"crm_customer from {Path(crm_customer.__file__).parent}")
    rows, companies = draw_rows(args)
    members = len(rows) - args.customers - args.companies
    print(f"{args.customers:,} individuals, {args.companies:,} companies with {members:,} members")
    with postgres() as admin_url:
        db_url = new_database(admin_url, "bench_name_groups")
        dsn = asyncpg_dsn(db_url)
        print(f"loaded in {asyncio.run(load(dsn, rows)):.1f} s")
        env = {
            "CUSTOMER_DATABASE_URL": db_url,
            "CUSTOMER_LOG_LEVEL": "WARNING",
            "CUSTOMER_SUBSCRIBERS": "[]",
            "CUSTOMER_NAME_GROUPS_WORKER": "true",
        }
        with ServerProcess("crm_customer.main:create_app", env) as service:
            service.wait_ready()
            asyncio.run(measure(args, dsn, service, companies))


if __name__ == "__main__":
    main()
