"""Read benchmark (issue 13): every list, filter, sort, search, deep page, count, distribution and report of
the customer, scoring, churn and campaign services, timed through the gateway on a large base.

Customer and scoring: builds the base (default 1,000,000 customers / ~10,000,000 orders: bench/scoring's
synthetic base, loaded with binary COPY into both services' databases, see base.py), runs the scoring batch
once so every customer has scores, starts scoring, customer (delivering its events to scoring) and the gateway
as processes, pushes `--push` orders through the API as a big partner, then times each read `--repeat` times
one after the other. Churn and campaign (churn_campaign.py): their bases at the same number of customers, built
by bench/churn's and bench/campaign's loaders, behind a second stack (churn, campaign, an empty customer
service, the gateway), each read timed the same way. Prints p50/p95 per read, worst p95 first. Deep pages start
`--deep` rows into the list (nine tenths into a shorter one): the cursor of the first page is re-signed at the
position of that row (found with one OFFSET query), as if the client had paged there. Goal: p95 under 100 ms
for every read, deep pages no slower than the first. Figures, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from crm_customer.main import SERVICE_DIR as CUSTOMER_DIR
from crm_scoring.main import SERVICE_DIR as SCORING_DIR
from crm_shared import launcher
from crm_shared.embedded_pg import asyncpg_dsn, create_database, database_url
from crm_shared.migrations import upgrade_head
from crm_shared.testing import DatabaseFactory

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(HERE), str(REPO / "bench" / "scoring"), str(REPO / "bench"), str(REPO)]
import churn_campaign  # noqa: E402
from base import PARTNERS, PUSH_PARTNER, add_care_rows, draw, load_customer_db, load_scoring_db  # noqa: E402
from common import postgres  # noqa: E402
from synth import SynthParams  # noqa: E402
from timing import Case, report, time_cases  # noqa: E402

from tests.e2e.stack import build_stack, running, staff  # noqa: E402

SERVICES = ("customer", "scoring", "churn", "campaign")
SMALL_PARTNER = "bench-partner"


def _module(name: str, path: Path) -> Any:
    """A sibling benchmark's run.py under its own name (every benchmark's script is called run.py)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def cases(s: dict[str, Any]) -> list[Case]:
    """Every read of customer and scoring, on ids sampled from the base (`s`)."""
    cid, run = s["customer_id"], s["run_id"]
    live = "merged_into IS NULL"
    c = [
        Case("customers", "/api/v1/customers"),
        Case("customers sort=display_name", "/api/v1/customers", {"sort": "display_name"}),
        Case(
            "customers deep",
            "/api/v1/customers",
            deep=(
                "customer",
                f"SELECT created_at, id FROM customers WHERE {live} ORDER BY created_at DESC, id DESC",
                "CUSTOMER_",
            ),
        ),
        Case(
            "customers sort=display_name deep",
            "/api/v1/customers",
            {"sort": "display_name"},
            deep=(
                "customer",
                f"SELECT display_name, id FROM customers WHERE {live} ORDER BY display_name, id",
                "CUSTOMER_",
            ),
        ),
        Case(f"customers q={s['name_fragment']} (common)", "/api/v1/customers", {"q": s["name_fragment"]}),
        Case(
            f"customers q={s['name_fragment']} sort=display_name",
            "/api/v1/customers",
            {"q": s["name_fragment"], "sort": "display_name"},
        ),
        Case("customers q=er (two letters)", "/api/v1/customers", {"q": "er"}),
        Case("customers q=<a full name>", "/api/v1/customers", {"q": s["display_name"]}),
        Case("customers q=zzqx (no match)", "/api/v1/customers", {"q": "zzqx"}),
        Case("customers kind=company", "/api/v1/customers", {"kind": "company"}),
        Case(
            "customers payment_terms sort=display_name",
            "/api/v1/customers",
            {"payment_terms": "cash", "sort": "display_name"},
        ),
        Case(
            "customers created range", "/api/v1/customers", {"created_from": s["mid_from"], "created_to": s["mid_to"]}
        ),
        Case("customers email=", "/api/v1/customers", {"email": s["email"]}),
        Case("customers external_id= alone", "/api/v1/customers", {"external_id": s["external_id"]}),
        Case("customers partner=small", "/api/v1/customers", {"partner": SMALL_PARTNER}),
        Case("customers as small partner", "/api/v1/customers", auth=SMALL_PARTNER),
        Case(
            "customers as small partner sort=display_name",
            "/api/v1/customers",
            {"sort": "display_name"},
            auth=SMALL_PARTNER,
        ),
        Case(
            "customers as small partner deep",
            "/api/v1/customers",
            auth=SMALL_PARTNER,
            depth=10_000,  # 100 pages of 100
            deep=(
                "customer",
                f"SELECT c.created_at, c.id FROM customers c JOIN customer_refs r ON r.customer_id = c.id"
                f" AND r.partner = '{SMALL_PARTNER}' WHERE c.{live} ORDER BY c.created_at DESC, c.id DESC",
                "CUSTOMER_",
            ),
        ),
        Case("customers tag=", "/api/v1/customers", {"tag": "member"}),
        Case("customer", f"/api/v1/customers/{cid}"),
        Case("customer timeline", f"/api/v1/customers/{cid}/timeline"),
        Case("customer contacts", f"/api/v1/customers/{cid}/contacts"),
        Case("customer interactions", f"/api/v1/customers/{cid}/interactions"),
        Case("customer consents", f"/api/v1/customers/{cid}/consents"),
        Case("customer profile", f"/api/v1/customers/{cid}/profile"),
        Case("customer referrals", f"/api/v1/customers/{cid}/referrals"),
        Case("customers duplicates", "/api/v1/customers/duplicates"),
        Case("customers duplicates reason=name", "/api/v1/customers/duplicates", {"reason": "name"}),
        Case("customers consents list", "/api/v1/customers/consents", {"channel": "email"}),
        Case("customers tags", "/api/v1/customers/tags"),
        Case("referrals top", "/api/v1/customers/referrals/top"),
        Case("orders", "/api/v1/orders"),
        Case(
            "orders deep",
            "/api/v1/orders",
            deep=("customer", "SELECT ordered_at, id FROM orders ORDER BY ordered_at DESC, id DESC", "CUSTOMER_"),
        ),
        Case("orders status=cancelled", "/api/v1/orders", {"status": "cancelled"}),
        Case("orders customer_id=", "/api/v1/orders", {"customer_id": cid}),
        Case("orders ordered range", "/api/v1/orders", {"ordered_from": s["mid_from"], "ordered_to": s["mid_to"]}),
        Case("orders partner=small", "/api/v1/orders", {"partner": SMALL_PARTNER}),
        Case("orders as small partner", "/api/v1/orders", auth=SMALL_PARTNER),
        Case(
            "orders as small partner deep",
            "/api/v1/orders",
            auth=SMALL_PARTNER,
            depth=10_000,  # 100 pages of 100
            deep=(
                "customer",
                f"SELECT ordered_at, id FROM orders WHERE partner = '{SMALL_PARTNER}'"
                " ORDER BY ordered_at DESC, id DESC",
                "CUSTOMER_",
            ),
        ),
        Case("order", f"/api/v1/orders/{s['order_id']}"),
        Case(
            "order by external id",
            f"/api/v1/orders/by-external/{s['order_external_id']}",
            {"partner": s["order_partner"]},
        ),
        Case("complaints", "/api/v1/complaints"),
        Case("complaints categories", "/api/v1/complaints/categories"),
        Case("complaints report daily", "/api/v1/complaints/reports/daily"),
        Case("complaints report fcr", "/api/v1/complaints/reports/first-contact-resolution"),
        Case("complaints report overdue", "/api/v1/complaints/reports/overdue"),
        Case("complaints report repeat", "/api/v1/complaints/reports/repeat-complainants"),
    ]
    scores = [
        Case("scores", "/api/v1/scores/customers"),
        Case(
            "scores deep",
            "/api/v1/scores/customers",
            deep=(
                "scoring",
                "SELECT clv::text, customer_id::text FROM customer_scores WHERE clv IS NOT NULL"
                " ORDER BY clv DESC, customer_id DESC",
                "SCORING_",
            ),
        ),
        Case("scores sort=-churn_risk", "/api/v1/scores/customers", {"sort": "-churn_risk"}),
        Case("scores sort=composite_score", "/api/v1/scores/customers", {"sort": "composite_score"}),
        Case("scores sort=customer_id", "/api/v1/scores/customers", {"sort": "customer_id"}),
        *(
            Case(
                f"scores stage={s['stage']} sort={sort}",
                "/api/v1/scores/customers",
                {"stage": s["stage"], "sort": sort},
            )
            for sort in ("-clv", "-churn_risk", "-composite_score", "customer_id")
        ),
        Case("scores abc_class=C sort=-clv", "/api/v1/scores/customers", {"abc_class": "C"}),
        Case("scores rfm_segment sort=-clv", "/api/v1/scores/customers", {"rfm_segment": s["rfm_segment"]}),
        Case("scores churn_risk range", "/api/v1/scores/customers", {"churn_risk_min": "0.4", "churn_risk_max": "0.5"}),
        Case("scores count", "/api/v1/scores/customers/count"),
        Case(f"scores count stage={s['stage']}", "/api/v1/scores/customers/count", {"stage": s["stage"]}),
        Case("scores count clv range", "/api/v1/scores/customers/count", {"clv_min": "100", "clv_max": "500"}),
        Case("score", f"/api/v1/scores/customers/{cid}"),
        Case("score explain", f"/api/v1/scores/customers/{cid}/explain"),
        Case("score history", f"/api/v1/scores/customers/{cid}/history"),
        Case("score stages", f"/api/v1/scores/customers/{cid}/stages"),
        Case("distribution lifecycle", "/api/v1/scores/distributions/lifecycle"),
        Case("distribution abc (Pareto)", "/api/v1/scores/distributions/abc"),
        Case("distribution rfm", "/api/v1/scores/distributions/rfm"),
        Case("distribution clv", "/api/v1/scores/distributions/clv"),
        Case("runs", "/api/v1/scores/runs"),
        Case("run", f"/api/v1/scores/runs/{run}"),
        *(
            [
                Case("run customers", f"/api/v1/scores/runs/{s['kept_run_id']}/customers"),
                Case("run customers count", f"/api/v1/scores/runs/{s['kept_run_id']}/customers/count"),
            ]
            if s["kept_run_id"]
            else []
        ),
        Case("models", "/api/v1/scores/models"),
        Case("models history", "/api/v1/scores/models/history"),
        Case("formulas", "/api/v1/scores/formulas"),
        Case("rules", "/api/v1/scores/rules"),
        Case("points", "/api/v1/scores/points"),
        Case(
            "points deep",
            "/api/v1/scores/points",
            deep=(
                "scoring",
                "SELECT month, customer_id FROM points_ledger ORDER BY month DESC, customer_id",
                "SCORING_",
            ),
        ),
    ]
    return c + scores


async def sample(customer_dsn: str, scoring_dsn: str) -> dict[str, Any]:
    """Ids and values the reads ask for, taken from the base."""
    cust = await asyncpg.connect(customer_dsn)
    scor = await asyncpg.connect(scoring_dsn)
    try:
        row = await cust.fetchrow(  # REPEATABLE: the same ids on the same base, so runs compare
            "SELECT o.id, o.external_id, o.partner, o.customer_id FROM orders o"
            " TABLESAMPLE SYSTEM (1) REPEATABLE (13) LIMIT 1"
        )
        assert row is not None, "the base has no orders"
        customer = await cust.fetchrow("SELECT email, display_name FROM customers WHERE id = $1", row["customer_id"])
        ref = await cust.fetchval("SELECT external_id FROM customer_refs WHERE customer_id = $1", row["customer_id"])
        span = await cust.fetchrow("SELECT min(created_at) lo, max(created_at) hi FROM customers")
        stage = await scor.fetchval(
            "SELECT stage FROM customer_scores GROUP BY stage ORDER BY count(*) LIMIT 1 OFFSET 1"
        )
        segment = await scor.fetchval("SELECT rfm_segment FROM customer_scores GROUP BY 1 ORDER BY count(*) LIMIT 1")
        run = await scor.fetchval("SELECT id FROM batch_runs ORDER BY started_at DESC LIMIT 1")
        # a backtest that kept its scores (only such runs list customers); none unless one was run
        kept = await scor.fetchval("SELECT id FROM batch_runs WHERE kept_scores ORDER BY started_at DESC LIMIT 1")
    finally:
        await cust.close()
        await scor.close()
    assert customer is not None
    assert span is not None
    mid = span["lo"] + (span["hi"] - span["lo"]) / 2
    return {
        "customer_id": str(row["customer_id"]),
        "order_id": str(row["id"]),
        "order_external_id": row["external_id"],
        "order_partner": row["partner"],
        "email": customer["email"],
        "external_id": ref,
        "name_fragment": customer["display_name"].split(" ")[-1][2:6].lower(),
        "display_name": customer["display_name"],
        "mid_from": mid.isoformat(),
        "mid_to": (mid + (span["hi"] - span["lo"]) / 100).isoformat(),
        "stage": stage or "growth",
        "rfm_segment": segment or "champions",
        "run_id": str(run),
        "kept_run_id": None if kept is None else str(kept),
    }


async def _wait_delivered(scoring_dsn: str, expected: int, give_up_after: float) -> float:
    """Seconds until scoring holds `expected` purchases (the pushed orders delivered), or the timeout."""
    conn = await asyncpg.connect(scoring_dsn)
    t0 = time.perf_counter()
    try:
        while time.perf_counter() - t0 < give_up_after:
            if await conn.fetchval("SELECT count(*) FROM purchases") >= expected:
                break
            await asyncio.sleep(1.0)
    finally:
        await conn.close()
    return time.perf_counter() - t0


def build(admin: str, params: SynthParams) -> tuple[dict[str, str], int, int, int]:
    """Both databases, migrated and loaded, and the batch run: (urls, the push partner's customers, orders,
    customers)."""
    urls = {}
    for name, service_dir in (("customer", CUSTOMER_DIR), ("scoring", SCORING_DIR)):
        db = f"bench_reads_{name}_{uuid.uuid4().hex[:8]}"
        asyncio.run(create_database(admin, db, exist_ok=False))
        urls[name] = database_url(admin, db)
        upgrade_head(service_dir, urls[name])
    dsns = {name: asyncpg_dsn(url) for name, url in urls.items()}
    print(f"drawing {params.customers:,} customers (~{params.orders_per_customer:g} orders each)...", flush=True)
    drawn = draw(params)
    n_orders = len(drawn.orders.customer)
    print(f"drew {n_orders:,} orders in {drawn.seconds:.1f} s", flush=True)
    for name, loader in (("customer", load_customer_db), ("scoring", load_scoring_db)):
        seconds = loader(dsns[name], drawn, params.seed)
        print(f"loaded the {name} base: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()), flush=True)
    care = asyncio.run(add_care_rows(dsns["customer"], params.customers))
    print(f"complaints, interactions and tags added in {care:.1f} s", flush=True)
    big = int((drawn.partner == PARTNERS.index(PUSH_PARTNER)).sum())
    del drawn
    scoring_run = _module("scoring_run", REPO / "bench" / "scoring" / "run.py")
    batch = scoring_run.run_batch(admin, urls["scoring"], None, refit=True)
    print(f"scoring batch: {batch.wall:.1f} s", flush=True)
    return urls, big, n_orders, params.customers


def reuse(admin: str, names: str) -> tuple[dict[str, str], int, int, int]:
    """The databases of an earlier run, brought to the migrations' head (what build returns)."""
    customer, scoring = names.split(",")
    urls = {"customer": database_url(admin, customer), "scoring": database_url(admin, scoring)}
    upgrade_head(CUSTOMER_DIR, urls["customer"])
    upgrade_head(SCORING_DIR, urls["scoring"])

    async def counts() -> tuple[int, int, int]:
        cust = await asyncpg.connect(asyncpg_dsn(urls["customer"]))
        scor = await asyncpg.connect(asyncpg_dsn(urls["scoring"]))
        try:
            big = await cust.fetchval("SELECT count(*) FROM customer_refs WHERE partner = $1", PUSH_PARTNER)
            customers = await cust.fetchval("SELECT count(*) FROM customers")
            return big, await scor.fetchval("SELECT count(*) FROM purchases"), customers
        finally:
            await cust.close()
            await scor.close()

    big, n_orders, customers = asyncio.run(counts())
    return urls, big, n_orders, customers


def _name(url: str) -> str:
    """A database URL's database name (for --reuse)."""
    return url.rsplit("/", 1)[-1].split("?")[0]


def _reuse_names(value: str, services: list[str]) -> dict[str, str]:
    """--reuse: `service=db` pairs, or bare names taken as the customer, scoring, churn and campaign databases
    in that order (the old form `CUSTOMER_DB,SCORING_DB` still works)."""
    names = {}
    for i, item in enumerate(value.split(",")):
        service, _, name = item.rpartition("=")
        names[service or SERVICES[i]] = name
    unknown = set(names) - set(SERVICES)
    if unknown:
        raise SystemExit(f"--reuse: unknown services {sorted(unknown)}")
    return {s: n for s, n in names.items() if s in services}


def customer_scoring_phase(admin: str, args: argparse.Namespace, reused: dict[str, str]) -> tuple[list[Case], str]:
    """Customer and scoring: the base (built or reused), the pushed orders, every read timed."""
    ingest = _module("ingest_run", REPO / "bench" / "ingest" / "run.py")
    if reused:
        if set(reused) != {"customer", "scoring"}:
            raise SystemExit("--reuse: give both the customer and the scoring database, or neither")
        urls, big, n_orders, customers = reuse(admin, f"{reused['customer']},{reused['scoring']}")
    else:
        params = SynthParams(customers=args.customers, orders_per_customer=args.orders / args.customers)
        urls, big, n_orders, customers = build(admin, params)
    dsns = {name: asyncpg_dsn(url) for name, url in urls.items()}
    print(f"customer, scoring: databases {', '.join(_name(u) for u in urls.values())}", flush=True)
    stack = asyncio.run(
        build_stack(
            DatabaseFactory(admin),
            customer_db=urls["customer"],
            scoring_db=urls["scoring"],
            partners={p: launcher.PARTNER_SCOPES for p in (PUSH_PARTNER, SMALL_PARTNER)},
        )
    )
    with running(stack):
        if args.push:
            orders = ingest.make_orders(args.push, big)
            bodies = [json.dumps({"orders": orders[i : i + 1000]}).encode() for i in range(0, len(orders), 1000)]
            seconds, created = asyncio.run(ingest.push(stack.url, stack.partner(PUSH_PARTNER), bodies, 2))
            print(f"pushed {created:,} orders through the gateway in {seconds:.1f} s", flush=True)
            waited = asyncio.run(_wait_delivered(dsns["scoring"], n_orders + created, 600))
            print(f"scoring had them all {waited:.1f} s later", flush=True)
        staff_headers = staff("admin")
        items = [c for c in cases(asyncio.run(sample(dsns["customer"], dsns["scoring"]))) if args.only in c.name]

        def headers(auth: str) -> dict[str, str]:
            return staff_headers if auth == "staff" else stack.partner(auth)

        print(f"timing {len(items)} customer and scoring reads, {args.repeat} times each...", flush=True)
        asyncio.run(time_cases(stack.url, items, headers, dsns, repeat=args.repeat, deep=args.deep))
    return items, f"{customers:,} customers, {n_orders:,} orders + {args.push:,} pushed"


def churn_campaign_phase(
    admin: str, args: argparse.Namespace, services: list[str], reused: dict[str, str]
) -> tuple[list[Case], str]:
    """Churn and campaign: their bases (built by their benchmarks' loaders, or reused) behind their own stack
    (with an empty customer service: the customer and scoring bases' events are not theirs), every read timed."""
    urls = {}
    records = args.records if args.records is not None else args.customers // 10
    for service in services:
        started = time.perf_counter()
        if service in reused:
            urls[service] = churn_campaign.reuse(admin, service, reused[service])
        elif service == "churn":
            churn_run = _module("churn_run", REPO / "bench" / "churn" / "run.py")
            urls[service] = churn_campaign.build_churn(admin, churn_run, args.customers, records)
        else:
            campaign_run = _module("campaign_run", REPO / "bench" / "campaign" / "run.py")
            urls[service] = churn_campaign.build_campaign(admin, campaign_run, args.customers)
        print(f"{service}: database {_name(urls[service])} ready in {time.perf_counter() - started:.0f} s")
    dsns = {name: asyncpg_dsn(url) for name, url in urls.items()}
    stack = asyncio.run(
        build_stack(
            DatabaseFactory(admin),
            services=("customer", *services),
            churn_db=urls.get("churn"),
            campaign_db=urls.get("campaign"),
        )
    )
    with running(stack):
        s = asyncio.run(churn_campaign.sample(dsns.get("churn"), dsns.get("campaign")))
        items = [
            *(churn_campaign.churn_cases(s, args.deep) if "churn" in urls else []),
            *(churn_campaign.campaign_cases(s, args.deep) if "campaign" in urls else []),
        ]
        items = [c for c in items if args.only in c.name]
        staff_headers = staff("admin")
        print(f"timing {len(items)} churn and campaign reads, {args.repeat} times each...", flush=True)
        asyncio.run(time_cases(stack.url, items, lambda _: staff_headers, dsns, repeat=args.repeat, deep=args.deep))
    sizes = []
    if "records" in s:
        sizes.append(f"churn: {s['records']:,} records, {s['watched']:,} watched, {s['cases']:,} win-back cases")
    if "call_tasks" in s:
        sizes.append(f"campaign: {s['call_tasks']:,} call tasks")
    return items, "; ".join(sizes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--orders", type=int, default=10_000_000, help="about this many orders (drawn per customer)")
    ap.add_argument("--records", type=int, default=None, help="churn records (default: a tenth of the customers)")
    ap.add_argument("--push", type=int, default=50_000, help="orders pushed through the API before timing")
    ap.add_argument("--repeat", type=int, default=30, help="timed requests per read (after two warm-ups)")
    ap.add_argument("--deep", type=int, default=500_000, help="rows deep for the deep pages")
    ap.add_argument("--only", default="", help="time only the reads whose name contains this")
    ap.add_argument(
        "--services",
        default=",".join(SERVICES),
        help="whose reads to time (customer and scoring go together)",
    )
    ap.add_argument(
        "--reuse",
        metavar="SERVICE=DB,...",
        help="time the reads on databases an earlier run built (on DATABASE_URL's server; pending migrations are"
        " applied): `customer=..,scoring=..,churn=..,campaign=..`; bare names are taken in that order; a service"
        " not named is built",
    )
    args = ap.parse_args()
    services = [s for s in SERVICES if s in args.services.split(",")]
    reused = _reuse_names(args.reuse, services) if args.reuse else {}
    items, bases = [], []
    with postgres() as admin:
        if {"customer", "scoring"} & set(services):
            timed, base = customer_scoring_phase(admin, args, {k: v for k, v in reused.items() if k in SERVICES[:2]})
            items += timed
            bases.append(base)
        later = [s for s in services if s in ("churn", "campaign")]
        if later:
            timed, base = churn_campaign_phase(admin, args, later, {k: v for k, v in reused.items() if k in later})
            items += timed
            bases.append(base)
    report(items)
    print(f"(base: {'; '.join(bases)})")


if __name__ == "__main__":
    main()
