"""The churn reports, alerts and watchlist timed through the gateway on a large base (issue 14 item 9): a churn
database loaded with `--customers` customers (default 1,000,000; region, ABC class, segment, stage, churn
risk, last interaction, known since up to 3 years ago), three orders each over the last 24 months (one
product line each; a third of the customers buy from one line only), complaints for 2% of them (one open for
half of those), and `--records` churn records (default 100,000) spread over the 24 months with one or two
reasons each and a win-back case each (in its record's state); then the churn service, an (empty) customer
service and the gateway as processes, and each read asked `--repeat` times (filters varied) as an admin,
then `--repeat` records declared (a write: ledger, win-back case, mass-churn check). The churn-rate ledger
(crm_churn/reports/ledger.py) and the watchlist (crm_churn/watchlist/repository.py `rebuild`, with the score
fields set as `score.changed` would) are built after the bulk load, as the handlers would have kept them.
Prints p50/p95 per endpoint against the 300 ms goal, and the load's times. Try `--customers 100000 --records
10000` first."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.dialects import postgresql

from crm_churn.main import SERVICE_DIR as CHURN_DIR
from crm_churn.reports.ledger import REBUILD
from crm_churn.watchlist import repository as watchlist_repository
from crm_churn.watchlist import service as watchlist_service
from crm_churn.watchlist.schemas import WatchlistSettings
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
LINES = "ARRAY['tools','paint','garden','kitchen','lighting']"
RECOVERABILITY = "ARRAY['abandoned_by_us','forced','bought_off','attracted','left_dissatisfied','other']"

LOAD = [
    (
        "customers",
        f"""INSERT INTO customer_values (customer_id, region, abc_class, rfm_segment, stage, clv, since,
                                         last_order_channel, churn_risk, last_interaction_at)
            SELECT md5(i::text)::uuid, ({REGIONS})[1 + i % 5], (ARRAY['A','B','C','C','C'])[1 + i % 5],
                   ({SEGMENTS})[1 + (i / 7) % 5], ({STAGES})[1 + (i / 3) % 4], (i % 5000)::numeric,
                   now() - make_interval(days => i % 1095), (ARRAY['web','shop','phone'])[1 + i % 3],
                   (i * 13 % 100) / 100.0,
                   CASE WHEN i % 4 <> 0 THEN now() - make_interval(days => i * 7 % 400) END
            FROM generate_series(1, $1::int) i""",
    ),
    (
        "orders",
        f"""INSERT INTO customer_orders (order_id, customer_id, ordered_at, amount, currency, channel, product_lines)
           SELECT gen_random_uuid(), md5(i::text)::uuid, now() - make_interval(days => (i * 37 + k * 211) % 730),
                  (20 + (i * k) % 480)::numeric, 'EUR', 'web',
                  ARRAY[({LINES})[1 + (CASE WHEN i % 3 = 0 THEN i ELSE i + k END) % 5]]
           FROM generate_series(1, $1::int) i, generate_series(1, 3) k""",
    ),
    (
        # 2% of the customers complained one to three times; half of them have one still open
        "complaints",
        """INSERT INTO customer_complaints (complaint_id, customer_id, number, category, severity, status, subject,
                                           opened_at, resolved_at, version)
           SELECT gen_random_uuid(), md5(i::text)::uuid, i * 3 + k, 'delivery', 'medium',
                  CASE WHEN k = 1 AND i % 100 = 0 THEN 'open' ELSE 'resolved' END, 'late delivery',
                  now() - make_interval(days => k * 30), CASE WHEN k > 1 OR i % 100 <> 0 THEN now() END, 1
           FROM generate_series(50, $1::int, 50) i, generate_series(1, 1 + i % 3) k""",
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
    (
        # A win-back case per record, in the state its record says (open: analysis or, with an owner and a
        # strategy, implementation; won back: won; lost: lost). Open windows end in the coming 90 days, so
        # the periodic sweep has nothing to close while the reads are timed.
        "win-back cases",
        """INSERT INTO winback_cases (id, record_id, customer_id, status, reasons, primary_reason, expected_value,
                                      value_band, strategy, owner, opened_at, window_ends_at, closed_at, benefit,
                                      cost)
           SELECT gen_random_uuid(), c.id, c.customer_id, s.status, c.reason_keys, c.reason_keys[1],
                  coalesce(c.clv, 0), c.abc_class,
                  CASE WHEN s.status <> 'analysis' THEN (ARRAY['personal_conversation','tailored_offer',
                       'bulk_outreach'])[1 + h % 3] END,
                  CASE WHEN s.status <> 'analysis' THEN 'agent-' || h % 20 END, c.detected_at,
                  CASE WHEN s.status IN ('analysis', 'implementation') THEN now() + make_interval(days => 1 + h % 90)
                       ELSE c.detected_at + interval '90 days' END,
                  CASE WHEN s.status IN ('won', 'lost')
                       THEN least(now(), c.detected_at + make_interval(days => 1 + h % 89)) END,
                  CASE WHEN s.status = 'won' THEN coalesce(c.clv, 0) END,
                  CASE WHEN s.status = 'analysis' THEN 0 ELSE 5 + h % 200 END
           FROM churn_records c,
                LATERAL (SELECT abs(hashtext(c.id::text)) AS h,
                                CASE c.status WHEN 'churned' THEN 'analysis' WHEN 'in_winback' THEN 'implementation'
                                              WHEN 'won_back' THEN 'won' ELSE 'lost' END AS status) s""",
    ),
    # The bulk load bypasses the event handlers that keep the churn-rate ledger: build it once.
    *(("churn-rate ledger", sql) for sql in REBUILD),
]


async def watchlist(conn: asyncpg.Connection) -> None:
    """The watchlist's entries as its handlers would have kept them: copied from the read model, with the
    score fields (gold: last year's largest; fall: value fell 30% at the last score change) that come from
    `score.changed`, then the flags under the default settings."""
    settings = WatchlistSettings()
    await watchlist_repository.rebuild(conn, settings)
    await conn.execute("""UPDATE watchlist_entries SET gold = abc_class = 'A' AND clv >= 2500,
                                 fall = CASE WHEN clv % 10 = 0 THEN 0.3 ELSE 0 END""")
    await watchlist_repository.refresh_flags(conn, None, settings)


async def load(dsn: str, customers: int, records: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for name, sql in LOAD:
            started = time.perf_counter()
            sized = {"customers": customers, "orders": customers, "complaints": customers, "records": records}
            args = (sized[name],) if name in sized else ()
            await conn.execute(sql, *args)
            print(f"loaded {name} in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        await watchlist(conn)
        print(f"loaded watchlist in {time.perf_counter() - started:.1f} s", flush=True)
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
    "watchlist": (
        "/api/v1/churn/watchlist",
        [
            {},
            {"signal": "silent"},
            {"signal": "complaints"},
            {"signal": "lapsed_top", "abc_class": "A"},
            {"signal": "narrow_lines", "region": "north"},
            {"signal": "declining", "stage": "decline"},
        ],
    ),
    # The whole filtered watchlist added up (count, priority, value at risk): what the console's overview shows;
    # the first request scans (crm_churn/watchlist/summary.py), the others add up the kept groups.
    "watchlist summary": (
        "/api/v1/churn/watchlist/summary",
        [{}, {"signal": "silent"}, {"signal": "complaints"}, {"abc_class": "A"}, {"region": "north"}],
    ),
}


async def explain_summary(dsn: str) -> None:
    """The plan of the summary's grouped scan (crm_churn/watchlist/summary.py: taken in the background, then
    kept) on the loaded base."""
    clock = watchlist_service.signal_clock(WatchlistSettings(), datetime.now(UTC))
    stmt = watchlist_repository.summary_groups(**clock)
    sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    conn = await asyncpg.connect(dsn)
    try:
        plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        print("watchlist summary's grouped scan:\n  " + "\n  ".join(r[0] for r in plan), flush=True)
    finally:
        await conn.close()


def loaded_customer(i: int) -> uuid.UUID:
    """The id LOAD gave customer i (md5 of its number)."""
    return uuid.UUID(hashlib.md5(str(i).encode()).hexdigest())


async def time_cases(base_url: str, repeat: int, customers: int) -> dict[str, list[float]]:
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
                if r.json().get("items") == [] and i < len(variants):  # a list timed empty says little
                    print(f"note: {name} {variants[i]} answered no items", flush=True)
        # A write: an agent declares a known customer churned (the last customers took no record in LOAD).
        # Its transaction keeps the churn-rate ledger, opens the win-back case and checks the mass-churn
        # alerts of the record's four scopes.
        out["declare a record (write)"] = []
        for i in range(repeat):
            body = {"customer_id": str(loaded_customer(customers - i)), "reasons": ["price"]}
            started = time.perf_counter()
            r = await http.post(
                "/api/v1/churn/records", json=body, headers={**headers, "Idempotency-Key": str(uuid.uuid4())}
            )
            out["declare a record (write)"].append(1000 * (time.perf_counter() - started))
            assert r.status_code == 201, r.text
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
        asyncio.run(explain_summary(asyncpg_dsn(url)))
        stack = asyncio.run(build_stack(DatabaseFactory(admin), services=("customer", "churn"), churn_db=url))
        with running(stack):
            figures = asyncio.run(time_cases(stack.url, args.repeat, args.customers))
        print(f"\n{'endpoint':28} {'p50 ms':>8} {'p95 ms':>8}  goal p95 < {GOAL_MS:.0f} ms")
        for case, ms in figures.items():
            p95 = percentile(ms, 0.95)
            print(f"{case:28} {percentile(ms, 0.5):8.1f} {p95:8.1f}  {'ok' if p95 < GOAL_MS else 'OVER'}")
        print(f"(base: {args.customers:,} customers, {3 * args.customers:,} orders, {args.records:,} records)")


if __name__ == "__main__":
    main()
