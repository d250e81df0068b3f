"""Console benchmark (issue 17): each page's server-side render timed at the console process, which reads
everything through a real gateway and the real services, on a large base. Goal: p95 under 300 ms.

The base is the other benchmarks' own: bench/reads' customer and scoring databases (bench/scoring's synthetic
customers and orders loaded with binary COPY, complaints and interactions, then one scoring batch run:
bench/reads/run.py `build`) and bench/churn's churn database (`load`: the read model, churn records with
reasons, the churn-rate ledger and the watchlist, at the same number of customers; its customers are its
own, so a customer's 360 shows no churn record), and an empty campaign database. Then the four services,
the gateway and the console as processes; the console is signed in as an admin through its development
sign-in (every panel visible), one win-back case is opened through the API, and each page is asked
`--repeat` times after two warm-ups. Prints p50/p95 per page against the goal.

Default `--customers 100000` (~1,000,000 orders) builds in about 2 minutes on 2 cores; the full size is
`--customers 1000000 --orders 10000000 --records 100000` (about 18 minutes to build).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from crm_churn.main import SERVICE_DIR as CHURN_DIR
from crm_shared.embedded_pg import asyncpg_dsn, create_database, database_url
from crm_shared.migrations import upgrade_head
from crm_shared.testing import DatabaseFactory

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO / "bench" / "reads"), str(REPO / "bench" / "scoring"), str(REPO / "bench"), str(REPO)]
from common import percentile, postgres  # noqa: E402
from synth import SynthParams  # noqa: E402

from tests.console.conftest import GATEWAY_ENV, api_headers, console_part, csrf_of  # noqa: E402
from tests.e2e.stack import build_stack, running  # noqa: E402

GOAL_MS = 300.0
READY_SECONDS = 180.0


def _module(name: str, path: Path) -> Any:
    """A sibling benchmark's run.py under its own name (every benchmark's script is called run.py)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def churn_database(admin: str, churn_run: Any, customers: int, records: int) -> str:
    name = f"bench_console_churn_{uuid.uuid4().hex[:8]}"
    asyncio.run(create_database(admin, name, exist_ok=False))
    url = database_url(admin, name)
    upgrade_head(CHURN_DIR, url)
    asyncio.run(churn_run.load(asyncpg_dsn(url), customers, records))
    return url


def pages(s: dict[str, Any], case_id: str) -> dict[str, str]:
    """Each page of the console once, the busy variants of the list pages too (name -> path)."""
    return {
        "overview": "/",
        "customers (scores list)": "/customers",
        "customers (stage, sort risk)": f"/customers?stage={s['stage']}&sort=-churn_risk",
        "customers (name search)": f"/customers?q={s['display_name'].split(' ')[-1]}",
        "customer 360": f"/customers/{s['customer_id']}",
        "churn (months)": "/churn",
        "churn (quarters, region)": "/churn?granularity=quarter&region=north&watch_signal=silent",
        "win-back board": "/winback",
        "win-back case": f"/winback/cases/{case_id}",
        "campaigns": "/campaigns",
        "complaints": "/complaints",
    }


async def open_case(gateway_url: str, churn_run: Any, customers: int) -> str:
    """A win-back case: a record declared for one of the churn base's customers (not one LOAD gave a record)."""
    admin = api_headers("admin")  # a token as the console mints it (the gateway takes its audience, issuer)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60) as http:
        body = {"customer_id": str(churn_run.loaded_customer(customers - 1)), "reasons": ["attracted"]}
        r = await http.post("/api/v1/churn/records", json=body, headers={**admin, "Idempotency-Key": str(uuid.uuid4())})
        assert r.status_code == 201, r.text
        listed = {"customer_id": body["customer_id"]}
        cases = await http.get("/api/v1/churn/winback/cases", params=listed, headers=admin)
        return str(cases.json()["items"][0]["id"])


async def time_pages(console_url: str, paths: dict[str, str], repeat: int) -> dict[str, list[float]]:
    async with httpx.AsyncClient(base_url=console_url, timeout=120) as http:
        login = await http.get("/login")
        signed = await http.post("/login/dev", data={"role": "admin", "next": "/", "csrf_token": csrf_of(login.text)})
        assert signed.status_code == 303, signed.text
        out: dict[str, list[float]] = {}
        for name, path in paths.items():
            out[name] = []
            for i in range(repeat + 2):  # two warm-ups
                started = time.perf_counter()
                r = await http.get(path)
                elapsed = 1000 * (time.perf_counter() - started)
                assert r.status_code == 200, f"{name}: HTTP {r.status_code} {r.text[:300]}"
                if i >= 2:
                    out[name].append(elapsed)
                elif i == 0 and (problems := re.findall(r'class="problem"[^>]*>([^<]{0,200})', r.text)):
                    print(f"note: {name} shows a problem: {problems[0]}", flush=True)
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--orders", type=int, default=None, help="about this many orders (default: 10 per customer)")
    ap.add_argument("--records", type=int, default=None, help="churn records (default: a tenth of the customers)")
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    orders = args.orders or 10 * args.customers
    records = args.records or args.customers // 10
    reads_run = _module("reads_run", REPO / "bench" / "reads" / "run.py")
    churn_run = _module("churn_run", REPO / "bench" / "churn" / "run.py")
    params = SynthParams(customers=args.customers, orders_per_customer=orders / args.customers)
    with postgres() as admin:
        started = time.perf_counter()
        urls, _, n_orders, customers = reads_run.build(admin, params)
        urls["churn"] = churn_database(admin, churn_run, args.customers, records)
        print(f"base built in {time.perf_counter() - started:.0f} s", flush=True)
        sample = asyncio.run(reads_run.sample(asyncpg_dsn(urls["customer"]), asyncpg_dsn(urls["scoring"])))
        stack = asyncio.run(
            build_stack(
                DatabaseFactory(admin),
                services=("customer", "scoring", "churn", "campaign"),
                customer_db=urls["customer"],
                scoring_db=urls["scoring"],
                churn_db=urls["churn"],
                gateway_env=GATEWAY_ENV,
            )
        )
        console = console_part(stack)
        with running(stack):
            console.start(wait=False)
            console.wait_ready(timeout=READY_SECONDS)
            try:
                case_id = asyncio.run(open_case(stack.url, churn_run, args.customers))
                figures = asyncio.run(time_pages(console.url, pages(sample, case_id), args.repeat))
            finally:
                console.stop()
    print(f"\n{'page':30} {'p50 ms':>8} {'p95 ms':>8}  goal p95 < {GOAL_MS:.0f} ms")
    for page, ms in figures.items():
        p95 = percentile(ms, 0.95)
        print(f"{page:30} {percentile(ms, 0.5):8.1f} {p95:8.1f}  {'ok' if p95 < GOAL_MS else 'OVER'}")
    base = f"{customers:,} customers, {n_orders:,} orders, {records:,} churn records"
    print(f"(base: {base}; {args.repeat} requests per page)")


if __name__ == "__main__":
    main()
