"""The churn reports and alerts timed through the gateway on a large base (issue 14 item 9): a churn database
loaded with `--customers` customers (default 1,000,000; region, ABC class, segment, stage, known since up to
3 years ago), three orders each over the last 24 months, and `--records` churn records (default 100,000)
spread over the 24 months with one or two reasons each; then the churn service, an (empty) customer service
and the gateway as processes, and each report asked `--repeat` times (filters varied) as an admin.
The churn-rate ledger (crm_churn/reports/ledger.py) is rebuilt after the bulk load, as the handlers would
have kept it. Prints p50/p95 per endpoint against the 300 ms goal, and the load's times. Try `--customers
100000 --records 10000` first."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

from crm_churn.main import SERVICE_DIR as CHURN_DIR
from crm_churn.reports.ledger import REBUILD
from crm_shared.embedded_pg import asyncpg_dsn, create_database, database_url
from crm_shared.migrations import upgrade_head
from crm_shared.testing import DatabaseFactory

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO / "bench"), str(REPO)]
from common import percentile, postgres  # noqa: E402

from tests.e2e.stack import build_stack, running, staff  # noqa: E402

GOAL_MS = 300.0
REGIONS = "ARRAY['north','south','east','west','centre']"
SEGMENTS = "ARRAY['champions','loyal','at_risk','hibernating','new']"
STAGES = "ARRAY['introduction','growth','maturity','decline']"
REASONS = "ARRAY['price','product','technology','political']"
RECOVERABILITY = "ARRAY['abandoned_by_us','forced','bought_off','attracted','left_dissatisfied','other']"

LOAD = [
    (
        "customers",
        f"""INSERT INTO customer_values (customer_id, region, abc_class, rfm_segment, stage, clv, since,
                                         last_order_channel)
            SELECT md5(i::text)::uuid, ({REGIONS})[1 + i % 5], (ARRAY['A','B','C','C','C'])[1 + i % 5],
                   ({SEGMENTS})[1 + (i / 7) % 5], ({STAGES})[1 + (i / 3) % 4], (i % 5000)::numeric,
                   now() - make_interval(days => i % 1095), (ARRAY['web','shop','phone'])[1 + i % 3]
            FROM generate_series(1, $1::int) i""",
    ),
    (
        "orders",
        """INSERT INTO customer_orders (order_id, customer_id, ordered_at, amount, currency, channel)
           SELECT gen_random_uuid(), md5(i::text)::uuid, now() - make_interval(days => (i * 37 + k * 211) % 730),
                  (20 + (i * k) % 480)::numeric, 'EUR', 'web'
           FROM generate_series(1, $1::int) i, generate_series(1, 3) k""",
    ),
    (
        "records",
        """INSERT INTO churn_records (id, customer_id, status, source, detected_at, clv, abc_class, revenue_12m,
                                     margin, stage, segment, region, channel)
           SELECT gen_random_uuid(), v.customer_id, (ARRAY['churned','lost','won_back','in_winback'])[1 + n % 4],
                  (ARRAY['declared','lifecycle','risk'])[1 + n % 3], now() - make_interval(days => (n % 730)::int),
                  v.clv, v.abc_class, 100 + n % 900, 0.1, v.stage, v.rfm_segment, v.region, v.last_order_channel
           FROM (SELECT row_number() OVER () n, customer_id, clv, abc_class, stage, rfm_segment, region,
                        last_order_channel
                 FROM customer_values TABLESAMPLE SYSTEM (50) LIMIT $1::int) v""",
    ),
    (
        "reasons",
        f"""INSERT INTO churn_record_reasons (record_id, reason_key)
            SELECT id, ({REASONS})[1 + abs(hashtext(id::text)) % 4] FROM churn_records
            UNION ALL
            SELECT id, ({RECOVERABILITY})[1 + abs(hashtext(id::text || 'r')) % 6] FROM churn_records
            WHERE abs(hashtext(id::text)) % 2 = 0""",
    ),
    # The bulk load bypasses the event handlers that keep the churn-rate ledger: build it once.
    *(("churn-rate ledger", sql) for sql in REBUILD),
]


async def load(dsn: str, customers: int, records: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for name, sql in LOAD:
            started = time.perf_counter()
            args = {"customers": (customers,), "orders": (customers,), "records": (records,)}.get(name, ())
            await conn.execute(sql, *args)
            print(f"loaded {name} in {time.perf_counter() - started:.1f} s", flush=True)
        await conn.execute("VACUUM ANALYZE")
        ledger = await conn.fetchval("SELECT count(*) FROM churn_rate_deltas")
        print(f"churn-rate ledger: {ledger:,} rows", flush=True)
    finally:
        await conn.close()


CASES: dict[str, tuple[str, list[dict[str, str]]]] = {
    "churn-rate (12 months)": ("/api/v1/churn/reports/churn-rate", [{}, {"region": "north"}, {"abc_class": "A"}]),
    "churn-rate (8 quarters)": (
        "/api/v1/churn/reports/churn-rate",
        [{"granularity": "quarter", "from": "2024-12-01", "to": "2026-12-01"}],
    ),
    "reasons": ("/api/v1/churn/reports/reasons", [{}, {"segment": "loyal"}]),
    "profit-lost": ("/api/v1/churn/reports/profit-lost", [{}, {"reason": "price"}]),
    "retention-budget": ("/api/v1/churn/reports/retention-budget", [{}, {"stage": "decline"}]),
    "records list": ("/api/v1/churn/records", [{}, {"reason": "attracted"}, {"status": "lost"}]),
    "alerts list": ("/api/v1/churn/alerts", [{}]),
}


async def time_cases(base_url: str, repeat: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    headers = staff("admin")
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        for name, (path, variants) in CASES.items():
            out[name] = []
            for i in range(repeat):
                started = time.perf_counter()
                r = await http.get(path, params=variants[i % len(variants)], headers=headers)
                out[name].append(1000 * (time.perf_counter() - started))
                assert r.status_code == 200, r.text
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with postgres() as admin:
        name = f"bench_churn_{uuid.uuid4().hex[:8]}"
        asyncio.run(create_database(admin, name, exist_ok=False))
        url = database_url(admin, name)
        upgrade_head(CHURN_DIR, url)
        asyncio.run(load(asyncpg_dsn(url), args.customers, args.records))
        stack = asyncio.run(build_stack(DatabaseFactory(admin), services=("customer", "churn"), churn_db=url))
        with running(stack):
            figures = asyncio.run(time_cases(stack.url, args.repeat))
        print(f"\n{'endpoint':28} {'p50 ms':>8} {'p95 ms':>8}  goal p95 < {GOAL_MS:.0f} ms")
        for case, ms in figures.items():
            p95 = percentile(ms, 0.95)
            print(f"{case:28} {percentile(ms, 0.5):8.1f} {p95:8.1f}  {'ok' if p95 < GOAL_MS else 'OVER'}")
        print(f"(base: {args.customers:,} customers, {3 * args.customers:,} orders, {args.records:,} records)")


if __name__ == "__main__":
    main()
