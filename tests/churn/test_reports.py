"""Reports on real PostgreSQL: the worked example of DOMAIN.md 3 (6,000 customers, 5% churn, 1,000
revenue each, 10% margin -> 300 lost, 30,000 profit lost, budget ceiling 30,000), churn rate per month and
quarter, the reason distribution in both taxonomies, filters, and bad periods."""

import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import asyncpg
import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from crm_churn.reports import ledger, repository
from crm_shared.db import create_engine

from .events import idem

R = "/api/v1/churn/reports"
PERIOD = {"from": "2026-01-01", "to": "2026-04-01"}


async def rebuild_ledger(db: asyncpg.Connection) -> None:
    """These tests write the read model with SQL, past the tracked handlers: rebuild the churn-rate ledger."""
    for sql in ledger.REBUILD:
        await db.execute(sql)


async def _worked_example(db: asyncpg.Connection) -> None:
    """6,000 customers known since 2025, each with 1,000 of orders in 2025; 300 of them churn in the first
    quarter of 2026 (100 a month), with revenue 1,000, margin 10% and CLV 2,500 at churn. Region: half north,
    half south; class A for the first 1,200. Reasons: price (150) or technology (150); attracted for 60."""
    await db.execute("""
        INSERT INTO customer_values (customer_id, since, region, abc_class)
        SELECT md5(i::text)::uuid, '2025-01-01'::timestamptz, CASE WHEN i % 2 = 0 THEN 'north' ELSE 'south' END,
               CASE WHEN i <= 1200 THEN 'A' ELSE 'C' END
        FROM generate_series(1, 6000) i""")
    await db.execute("""
        INSERT INTO customer_orders (order_id, customer_id, ordered_at, amount, currency)
        SELECT gen_random_uuid(), md5(i::text)::uuid, '2025-06-01'::timestamptz, 1000, 'EUR'
        FROM generate_series(1, 6000) i""")
    # 300 churn across the quarter, 100 a month (Jan, Feb, Mar), customers 1..300 (all class A, both regions)
    await db.execute("""
        INSERT INTO churn_records (id, customer_id, status, source, detected_at, clv, abc_class, revenue_12m, margin,
                                   region)
        SELECT gen_random_uuid(), md5(i::text)::uuid, 'churned', 'declared',
               make_timestamptz(2026, 1 + (i - 1) / 100, 10, 0, 0, 0, 'UTC'), 2500, 'A', 1000, 0.10,
               CASE WHEN i % 2 = 0 THEN 'north' ELSE 'south' END
        FROM generate_series(1, 300) i""")
    await db.execute("""
        INSERT INTO churn_record_reasons (record_id, reason_key)
        SELECT id, CASE WHEN n <= 150 THEN 'price' ELSE 'technology' END FROM (
            SELECT id, row_number() OVER (ORDER BY customer_id) n FROM churn_records) r""")
    await db.execute("""
        INSERT INTO churn_record_reasons (record_id, reason_key)
        SELECT id, 'attracted' FROM (SELECT id, row_number() OVER (ORDER BY customer_id) n FROM churn_records) r
        WHERE n <= 60""")
    await rebuild_ledger(db)


async def test_the_worked_example(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    await _worked_example(db)
    started = time.perf_counter()
    quarter = (await api.get(f"{R}/churn-rate", params={**PERIOD, "granularity": "quarter"})).json()
    [point] = quarter["series"]
    assert point["period_start"] == "2026-01-01"
    assert point["period_end"] == "2026-04-01"
    assert (point["active_at_start"], point["churned"]) == (6000, 300)
    assert Decimal(point["rate"]) == Decimal("0.05")
    assert Decimal(point["revenue_at_start"]) == Decimal(6_000_000)
    assert Decimal(point["revenue_churned"]) == 300_000
    assert Decimal(point["revenue_rate"]) == Decimal("0.05")

    lost = (await api.get(f"{R}/profit-lost", params=PERIOD)).json()
    total = lost["total"]
    assert total["lost_customers"] == 300
    assert Decimal(total["revenue_lost"]) == 300_000
    assert Decimal(total["revenue_per_customer"]) == 1000
    assert Decimal(total["profit_lost"]) == 30_000
    assert Decimal(total["clv_lost"]) == 750_000
    assert [p["lost_customers"] for p in lost["series"]] == [100, 100, 100]

    budget = (await api.get(f"{R}/retention-budget", params=PERIOD)).json()
    assert Decimal(budget["budget_ceiling"]) == 30_000
    assert Decimal(budget["per_customer_ceiling"]) == 100
    half = (await api.get(f"{R}/retention-budget", params={**PERIOD, "saved_share": "0.5"})).json()
    assert Decimal(half["budget_ceiling"]) == 15_000
    print(f"\nworked-example reports (6,000 customers, 300 records): {1000 * (time.perf_counter() - started):.0f} ms")


async def test_monthly_rate_follows_the_shrinking_base(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    await _worked_example(db)
    series = (await api.get(f"{R}/churn-rate", params=PERIOD)).json()["series"]
    assert [(p["active_at_start"], p["churned"]) for p in series] == [(6000, 100), (5900, 100), (5800, 100)]
    assert Decimal(series[1]["rate"]) == (Decimal(100) / 5900).quantize(Decimal("0.000001"))
    # a customer won back in February counts as active again from March
    await db.execute("""UPDATE churn_records SET status = 'won_back', won_back_at = '2026-02-20'
                        WHERE customer_id = md5('1')::uuid""")
    await rebuild_ledger(db)
    series = (await api.get(f"{R}/churn-rate", params=PERIOD)).json()["series"]
    assert [p["active_at_start"] for p in series] == [6000, 5900, 5801]
    # the revenue of the 12 months before each start is that of the active customers only
    assert [Decimal(p["revenue_at_start"]) for p in series] == [6_000_000, 5_900_000, 5_801_000]
    # ...and is not a lost customer
    assert (await api.get(f"{R}/profit-lost", params=PERIOD)).json()["total"]["lost_customers"] == 299


async def test_filters(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    await _worked_example(db)
    quarter = {**PERIOD, "granularity": "quarter"}
    north = (await api.get(f"{R}/churn-rate", params={**quarter, "region": "north"})).json()["series"][0]
    assert (north["active_at_start"], north["churned"]) == (3000, 150)
    a = (await api.get(f"{R}/churn-rate", params={**quarter, "abc_class": "A"})).json()["series"][0]
    assert (a["active_at_start"], a["churned"]) == (1200, 300)
    assert Decimal(a["rate"]) == Decimal("0.25")
    priced = (await api.get(f"{R}/profit-lost", params={**PERIOD, "reason": "price"})).json()["total"]
    assert priced["lost_customers"] == 150
    assert Decimal(priced["profit_lost"]) == 15_000
    none = (await api.get(f"{R}/churn-rate", params={**quarter, "abc_class": "B"})).json()["series"][0]
    assert (none["active_at_start"], none["churned"], none["rate"]) == (0, 0, None)


async def test_reason_distribution(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    await _worked_example(db)
    await api.post("/api/v1/churn/records", json={"customer_id": str(uuid.uuid4())}, headers=idem())  # today
    got = (await api.get(f"{R}/reasons", params=PERIOD)).json()
    assert got["records"] == 300
    cause, recoverability = got["taxonomies"]
    assert cause["taxonomy"] == "cause"
    assert (cause["classified"], cause["unclassified"]) == (300, 0)
    assert [(r["key"], r["count"], Decimal(r["share"])) for r in cause["reasons"]] == [
        ("price", 150, Decimal("0.5")),
        ("technology", 150, Decimal("0.5")),
    ]
    assert (recoverability["classified"], recoverability["unclassified"]) == (60, 240)
    assert [(r["key"], r["count"]) for r in recoverability["reasons"]] == [("attracted", 60)]
    # price and attracted are controllable, technology is not: 150 with price + (attracted among them)
    assert got["controllable"] == 150
    assert got["uncontrollable_only"] == 150


async def test_bad_periods_and_filters(api: httpx.AsyncClient) -> None:
    cases = [
        ({"from": "2026-03-01", "to": "2026-03-01"}, "to"),
        ({"from": "2000-01-01", "to": "2026-03-01"}, "to"),
        ({"from": "2026-13-01"}, "from"),
        ({"granularity": "week"}, "granularity"),
        ({"abc_class": "Z"}, "abc_class"),
        ({"reason": "Not A Key"}, "reason"),
    ]
    for params, name in cases:
        r = await api.get(f"{R}/churn-rate", params=params)
        assert r.status_code == 422, (params, r.text)
        assert name in [e.get("parameter") for e in r.json()["errors"]], r.text
    for share in ("0", "1.5", "abc"):
        r = await api.get(f"{R}/retention-budget", params={"saved_share": share})
        assert r.status_code == 422
        assert r.json()["errors"][0]["parameter"] == "saved_share"


async def test_default_period_is_the_last_twelve_months(api: httpx.AsyncClient) -> None:
    series = (await api.get(f"{R}/churn-rate")).json()["series"]
    assert len(series) == 12
    today = datetime.now(UTC).date()
    assert date.fromisoformat(series[-1]["period_start"]) == today.replace(day=1)


async def test_the_one_pass_series_matches_the_per_period_count(settings, db: asyncpg.Connection) -> None:
    """reports.repository.active_series (deltas summed per month) against active_at (one query per month)
    on an irregular history: customers known at various times, orders, churn records won back or not."""
    await db.execute("""
        INSERT INTO customer_values (customer_id, since, region)
        SELECT md5(i::text)::uuid, '2024-01-01'::timestamptz + make_interval(days => i * 7 % 700),
               CASE WHEN i % 3 = 0 THEN 'north' END
        FROM generate_series(1, 400) i""")
    await db.execute("""
        INSERT INTO customer_orders (order_id, customer_id, ordered_at, amount, currency)
        SELECT gen_random_uuid(), md5(i::text)::uuid,
               '2024-01-01'::timestamptz + make_interval(days => i * 7 % 700 + k * 53), 10 * k + i % 7, 'EUR'
        FROM generate_series(1, 400) i, generate_series(0, 4) k""")
    await db.execute("""
        INSERT INTO churn_records (id, customer_id, status, source, detected_at, won_back_at, margin)
        SELECT gen_random_uuid(), md5(i::text)::uuid, CASE WHEN i % 4 = 0 THEN 'won_back' ELSE 'lost' END,
               'declared', '2024-03-01'::timestamptz + make_interval(days => i * 5 % 600),
               CASE WHEN i % 4 = 0 THEN '2024-03-01'::timestamptz + make_interval(days => i * 5 % 600 + 90) END, 0.1
        FROM generate_series(1, 400, 3) i""")
    engine = create_engine(settings.async_database_url, application_name="test-series")
    starts = [date(2024 + (m // 12), m % 12 + 1, 1) for m in range(30)]
    try:
        async with engine.connect() as conn:
            session = AsyncSession(bind=conn)
            for filters in ({}, {"region": "north"}):
                series = await repository.active_series(session, starts, filters)
                for start in starts:
                    one = await repository.active_at(session, datetime(start.year, start.month, 1, tzinfo=UTC), filters)
                    assert series[start] == one, (start, filters)
    finally:
        await engine.dispose()


async def test_the_grouped_monthly_figures_match_the_per_period_query(settings, db: asyncpg.Connection) -> None:
    """reports.repository.churned_by_month (profit lost's series in one query) against churned per month,
    with filters, reasons and won-back records, including months at the edges of a UTC day."""
    await db.execute("""
        INSERT INTO churn_records (id, customer_id, status, source, detected_at, clv, revenue_12m, margin, region)
        SELECT gen_random_uuid(), gen_random_uuid(), CASE WHEN i % 4 = 0 THEN 'won_back' ELSE 'lost' END,
               'declared', '2024-01-31 23:30:00+00'::timestamptz + make_interval(days => i * 11 % 700, mins => i % 90),
               100 + i % 13, 50 + i % 17, 0.15, CASE WHEN i % 3 = 0 THEN 'north' END
        FROM generate_series(1, 500) i""")
    await db.execute("""INSERT INTO churn_record_reasons (record_id, reason_key)
                        SELECT id, 'price' FROM churn_records WHERE clv < 105""")
    engine = create_engine(settings.async_database_url, application_name="test-grouped")
    months = [date(2024 + m // 12, m % 12 + 1, 1) for m in range(26)]
    try:
        async with engine.connect() as conn:
            session = AsyncSession(bind=conn)
            for filters in ({}, {"region": "north"}, {"reason": "price"}):
                for lost_only in (False, True):
                    instants = [datetime(m.year, m.month, 1, tzinfo=UTC) for m in months]
                    grouped = await repository.churned_by_month(
                        session, instants[0], instants[-1], filters, lost_only=lost_only
                    )
                    for m, start, end in zip(months, instants, instants[1:], strict=False):
                        one = await repository.churned(session, start, end, filters, lost_only=lost_only)
                        assert grouped.get(m, repository.Churned(0, Decimal(0), Decimal("0.00"), Decimal(0))) == one
                    assert sum(c.count for c in grouped.values()) > 0
    finally:
        await engine.dispose()


_ORACLE_WHERE = """
    c.folded_into IS NULL AND c.detected_at >= $1 AND c.detected_at < $2 AND ($3::text IS NULL OR c.region = $3)
    AND ($4::text IS NULL OR EXISTS (
        SELECT 1 FROM churn_record_reasons f WHERE f.record_id = c.id AND f.reason_key = $4))"""
# The reasons report's figures as they were computed before reason sets (a join of every record with each
# of its reasons), kept here as the oracle.
_ORACLE_COUNTS = f"""
    SELECT r.key, count(*) FROM churn_records c
    JOIN churn_record_reasons cr ON cr.record_id = c.id JOIN churn_reasons r ON r.key = cr.reason_key
    WHERE {_ORACLE_WHERE}
    GROUP BY r.key ORDER BY count(*) DESC, r.key"""
_ORACLE_CLASSIFIED = f"""
    SELECT count(*) FILTER (WHERE x.cause), count(*) FILTER (WHERE x.recoverability),
           count(*) FILTER (WHERE x.controllable), count(*) FILTER (WHERE NOT x.controllable)
    FROM (
        SELECT bool_or(r.taxonomy = 'cause') AS cause, bool_or(r.taxonomy = 'recoverability') AS recoverability,
               bool_or(r.controllable) AS controllable
        FROM churn_records c
        JOIN churn_record_reasons cr ON cr.record_id = c.id JOIN churn_reasons r ON r.key = cr.reason_key
        WHERE {_ORACLE_WHERE}
        GROUP BY c.id
    ) x"""


async def test_the_reason_sets_give_the_joins_answers(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """The reasons report (records grouped by their trigger-kept reason set) against the join it replaced,
    on records with none to three reasons, reasons removed, re-keyed and copied, folded records, a retired
    reason, and filters (a reason filter narrows every figure to the records citing it)."""
    await db.execute("""
        INSERT INTO churn_records (id, customer_id, status, source, detected_at, margin, region)
        SELECT md5(i::text)::uuid, gen_random_uuid(), 'lost', 'declared',
               '2026-01-01'::timestamptz + make_interval(days => i * 7 % 120), 0.1,
               CASE WHEN i % 3 = 0 THEN 'north' END
        FROM generate_series(1, 300) i""")
    keys = "ARRAY['price','product','technology','political','attracted','forced','left_dissatisfied','other']"
    await db.execute(f"""
        INSERT INTO churn_record_reasons (record_id, reason_key)
        SELECT DISTINCT md5(i::text)::uuid, ({keys})[1 + (i * k * 7 + k) % 8]
        FROM generate_series(1, 300) i, generate_series(1, 3) k WHERE (i + k) % 4 <> 0""")
    await db.execute("DELETE FROM churn_record_reasons WHERE reason_key = 'other' AND record_id < md5('150')::uuid")
    await db.execute("""UPDATE churn_record_reasons SET reason_key = 'bought_off'
                        WHERE reason_key = 'forced' AND record_id > md5('200')::uuid""")
    await db.execute("""INSERT INTO churn_record_reasons (record_id, reason_key)
                        SELECT md5('7')::uuid, reason_key FROM churn_record_reasons WHERE record_id = md5('8')::uuid
                        ON CONFLICT DO NOTHING""")
    await db.execute("UPDATE churn_records SET folded_into = md5('7')::uuid WHERE id = md5('8')::uuid")
    await db.execute("UPDATE churn_reasons SET retired_at = now() WHERE key = 'political'")
    stale = await db.fetchval("""
        SELECT count(*) FROM churn_records c WHERE c.reason_keys IS DISTINCT FROM coalesce(
            (SELECT array_agg(reason_key ORDER BY reason_key) FROM churn_record_reasons WHERE record_id = c.id),
            '{}')""")
    assert stale == 0
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    for region, reason in ((None, None), ("north", None), (None, "price"), ("north", "attracted")):
        params = {"from": "2026-01-01", "to": "2026-04-01", "region": region, "reason": reason}
        got = (await api.get(f"{R}/reasons", params={k: v for k, v in params.items() if v})).json()
        counts = [tuple(r) for r in await db.fetch(_ORACLE_COUNTS, start, end, region, reason)]
        classified = await db.fetchrow(_ORACLE_CLASSIFIED, start, end, region, reason)
        assert classified is not None
        cause, recoverability, controllable, uncontrollable = classified
        where = "folded_into IS NULL AND detected_at >= $1 AND detected_at < $2 AND ($3::text IS NULL OR region = $3)"
        total = await db.fetchval(f"SELECT count(*) FROM churn_records WHERE {where}", start, end, region)
        if reason is not None:
            total = sum(n for k, n in counts if k == reason)
        assert got["records"] == total > 0
        assert (got["controllable"], got["uncontrollable_only"]) == (controllable, uncontrollable)
        by_taxonomy = {t["taxonomy"]: t for t in got["taxonomies"]}
        assert by_taxonomy["cause"]["classified"] == cause
        assert by_taxonomy["recoverability"]["classified"] == recoverability
        assert by_taxonomy["cause"]["unclassified"] == total - cause
        listed = [(r["key"], r["count"]) for t in got["taxonomies"] for r in t["reasons"]]
        assert sorted(listed, key=lambda kn: (-kn[1], kn[0])) == counts, (region, reason)
