"""The churn and campaign services' reads for bench/reads: their bases, built by the services' own benchmarks'
loaders (bench/churn/run.py `load`, bench/campaign/run.py `load` and `launch`) at the same number of customers,
the ids the reads ask for, and the reads themselves.

Churn: bench/churn's base (read model, 3 orders per customer, complaints, `records` churn records with reasons,
a win-back case per record, the churn-rate ledger and the watchlist). Campaign: bench/campaign's audience and
contact log, then two launches of its broad segment (an email campaign and a phone campaign) whose queued
recipients are then marked as delivered in bulk (the email ones sent, the phone ones handed over in two call
batches: 1,000 for the CSV read, the rest, each with its open call task), attributed orders for 6% of the
treatment and 4% of the control and global control (the results' conversions), and `DRAFTS` more segments
and draft campaigns for the lists. Both services' customer ids are md5 of the same numbers, so the two bases
describe the same customers."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
from timing import Case

from crm_campaign.main import SERVICE_DIR as CAMPAIGN_DIR
from crm_churn.main import SERVICE_DIR as CHURN_DIR
from crm_shared.embedded_pg import asyncpg_dsn, create_database, database_url
from crm_shared.migrations import upgrade_head

CONTACTS_PER_CUSTOMER = 1.5  # bench/campaign's default: a month of marketing contacts
DRAFTS = 40
CSV_BATCH = 1_000
NARROW = {"and": [{"field": "abc_class", "op": "eq", "value": "A"}, {"field": "region", "op": "eq", "value": "north"}]}

_DELIVERED = """
UPDATE campaign_recipients SET status = 'sent', sent_at = now() - interval '10 days', attempts = 1,
       provider_ref = 'smtp:' || customer_id
WHERE campaign_id = $1 AND status = 'queued'
"""
_CONVERSIONS = """
INSERT INTO campaign_conversions (campaign_id, order_id, customer_id, grp, amount, currency, ordered_at)
SELECT campaign_id, gen_random_uuid(), customer_id, grp, 20 + abs(hashtext(customer_id::text)) % 300, 'EUR',
       now() - make_interval(days => 1 + abs(hashtext(customer_id::text || 'd')) % 9)
FROM campaign_members
WHERE campaign_id = $1 AND abs(hashtext(customer_id::text)) % 100 < CASE grp WHEN 'treatment' THEN 6 ELSE 4 END
"""
# A call batch of the phone campaign's queued recipients (those up to customer id `$3`; all when null), as
# create_batch hands them over: sent with the batch's reference (`$2`), an open call task each. A range of the
# primary key, no join: a join of the picked ids with 600k recipients planned as a nested loop took minutes.
_CALL_BATCH = """
WITH sent AS (
    UPDATE campaign_recipients SET status = 'sent', sent_at = now(), attempts = 1, provider_ref = 'batch:' || $2
    WHERE campaign_id = $1 AND status = 'queued' AND ($3::uuid IS NULL OR customer_id <= $3)
    RETURNING customer_id
)
INSERT INTO call_tasks (campaign_id, customer_id, batch_id) SELECT $1, customer_id, $2::uuid FROM sent
"""
_DRAFTS = """
WITH s AS (
    INSERT INTO segments (name, rules, created_by)
    SELECT 'segment ' || i, jsonb_build_object('field', 'clv', 'op', 'gte', 'value', i * 100), 'bench'
    FROM generate_series(1, $1::int) i RETURNING id, name
)
INSERT INTO campaigns (name, objective, segment_id, channel, subject, template, seed, created_by)
SELECT 'draft ' || s.name, (ARRAY['retention','win_back','cross_sell','reactivation'])[1 + k % 4], s.id, 'email',
       'Hello', 'Dear {{ customer.first_name }}', k, 'bench'
FROM s, generate_series(0, 1) k
"""


def new_database(admin: str, service: str, service_dir: Any) -> str:
    name = f"bench_reads_{service}_{uuid.uuid4().hex[:8]}"
    asyncio.run(create_database(admin, name, exist_ok=False))
    url = database_url(admin, name)
    upgrade_head(service_dir, url)
    return url


def build_churn(admin: str, churn_run: Any, customers: int, records: int) -> str:
    url = new_database(admin, "churn", CHURN_DIR)
    asyncio.run(churn_run.load(asyncpg_dsn(url), customers, records))
    return url


def build_campaign(admin: str, campaign_run: Any, customers: int) -> str:
    url = new_database(admin, "campaign", CAMPAIGN_DIR)
    asyncio.run(campaign_run.load(url, customers, CONTACTS_PER_CUSTOMER))
    email = asyncio.run(campaign_run.launch(url, False, name="bench email"))
    phone = asyncio.run(campaign_run.launch(url, False, channel="phone", name="bench phone", holdout=False))
    asyncio.run(_campaign_state(asyncpg_dsn(url), email, phone))
    return url


async def _campaign_state(dsn: str, email: uuid.UUID, phone: uuid.UUID) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        await conn.execute(_DELIVERED, email)
        await conn.execute(_CONVERSIONS, email)
        await call_batches(conn, phone)
        await conn.execute(_DRAFTS, DRAFTS)
        await conn.execute("VACUUM ANALYZE")
        print(f"campaign state (delivered, conversions, call batches, drafts) in {time.perf_counter() - started:.1f} s")
    finally:
        await conn.close()


async def call_batches(conn: asyncpg.Connection, phone: uuid.UUID) -> None:
    """The phone campaign's queued recipients handed over in two call batches: CSV_BATCH of them, then the rest."""
    last = await conn.fetchval(
        "SELECT customer_id FROM campaign_recipients WHERE campaign_id = $1 AND status = 'queued'"
        " ORDER BY customer_id OFFSET $2 LIMIT 1",
        phone,
        CSV_BATCH - 1,
    )
    for upto in (last, None):
        batch = await conn.fetchval(
            "INSERT INTO delivery_batches (campaign_id, channel, size, created_by) VALUES ($1, 'phone', 0, 'bench')"
            " RETURNING id",
            phone,
        )
        await conn.execute(_CALL_BATCH, phone, str(batch), upto)
        await conn.execute(
            "UPDATE delivery_batches SET size = (SELECT count(*) FROM call_tasks WHERE batch_id = $1) WHERE id = $1",
            batch,
        )


def reuse(admin: str, service: str, name: str) -> str:
    url = database_url(admin, name)
    upgrade_head(CHURN_DIR if service == "churn" else CAMPAIGN_DIR, url)
    return url


async def sample(churn_dsn: str | None, campaign_dsn: str | None) -> dict[str, Any]:
    """Ids and sizes the reads ask for, taken from the bases present."""
    s: dict[str, Any] = {}
    if churn_dsn:
        conn = await asyncpg.connect(churn_dsn)
        try:
            record = await conn.fetchrow(
                "SELECT id, customer_id FROM churn_records WHERE folded_into IS NULL AND cardinality(reason_keys) > 0"
                " ORDER BY detected_at DESC, id DESC OFFSET 100 LIMIT 1"
            )
            assert record is not None, "the churn base has no records"
            s["record_id"], s["record_customer"] = str(record["id"]), str(record["customer_id"])
            s["records"] = await conn.fetchval("SELECT count(*) FROM churn_records WHERE folded_into IS NULL")
            s["watched"] = await conn.fetchval("SELECT count(*) FROM watchlist_entries WHERE listed")
            s["watch_customer"] = str(
                await conn.fetchval("SELECT customer_id FROM watchlist_entries WHERE listed OFFSET 1000 LIMIT 1")
            )
            s["cases"] = await conn.fetchval("SELECT count(*) FROM winback_cases")
            case = await conn.fetchval("SELECT id FROM winback_cases WHERE status = 'implementation' LIMIT 1")
            s["case_id"] = None if case is None else str(case)
            alert = await conn.fetchval("SELECT id FROM churn_alerts ORDER BY period_start DESC LIMIT 1")
            s["alert_id"] = None if alert is None else str(alert)
        finally:
            await conn.close()
    if campaign_dsn:
        conn = await asyncpg.connect(campaign_dsn)
        try:
            for channel in ("email", "phone"):
                s[f"{channel}_campaign"] = str(
                    await conn.fetchval("SELECT id FROM campaigns WHERE name = $1", f"bench {channel}")
                )
            s["broad_segment"] = str(await conn.fetchval("SELECT id FROM segments WHERE name = 'bench email'"))
            s["narrow_segment"] = str(await conn.fetchval("SELECT id FROM segments WHERE name = 'segment 1'"))
            s["csv_batch"] = str(await conn.fetchval("SELECT id FROM delivery_batches WHERE size = $1", CSV_BATCH))
            s["call_tasks"] = await conn.fetchval(
                "SELECT count(*) FROM call_tasks WHERE campaign_id = $1", uuid.UUID(s["phone_campaign"])
            )
        finally:
            await conn.close()
    return s


def _depth(rows: int, deep: int) -> int:
    """--deep rows into a list, or nine tenths of a shorter one."""
    return min(deep, rows * 9 // 10)


def churn_cases(s: dict[str, Any], deep: int) -> list[Case]:
    reports = "/api/v1/churn/reports"
    two_years = {"from": "2024-12-01", "to": "2026-12-01"}
    records, watch, cases = "/api/v1/churn/records", "/api/v1/churn/watchlist", "/api/v1/churn/winback/cases"
    c = [
        Case("churn-rate (12 months)", f"{reports}/churn-rate"),
        Case("churn-rate region=north", f"{reports}/churn-rate", {"region": "north"}),
        Case("churn-rate abc_class=A", f"{reports}/churn-rate", {"abc_class": "A"}),
        Case("churn-rate (8 quarters)", f"{reports}/churn-rate", {"granularity": "quarter", **two_years}),
        Case(
            "churn-rate (8 quarters) region=north reason=price",
            f"{reports}/churn-rate",
            {"granularity": "quarter", "region": "north", "reason": "price", **two_years},
        ),
        Case("churn-rate (24 months) stage=decline", f"{reports}/churn-rate", {"stage": "decline", **two_years}),
        Case("churn reasons", f"{reports}/reasons"),
        Case("churn reasons segment=loyal", f"{reports}/reasons", {"segment": "loyal"}),
        Case("churn reasons (2 years)", f"{reports}/reasons", two_years),
        Case("churn profit-lost", f"{reports}/profit-lost"),
        Case("churn profit-lost reason=price", f"{reports}/profit-lost", {"reason": "price"}),
        Case("churn profit-lost (2 years)", f"{reports}/profit-lost", two_years),
        Case("churn retention-budget", f"{reports}/retention-budget"),
        Case("churn retention-budget stage=decline", f"{reports}/retention-budget", {"stage": "decline"}),
        Case("churn records", records),
        Case("churn records status=lost", records, {"status": "lost"}),
        Case("churn records reason=attracted", records, {"reason": "attracted"}),
        Case("churn records abc_class=A region=north", records, {"abc_class": "A", "region": "north"}),
        Case("churn records source=risk segment=loyal", records, {"source": "risk", "segment": "loyal"}),
        Case("churn records detected range", records, {"from": "2025-06-01T00:00:00Z", "to": "2025-06-15T00:00:00Z"}),
        Case("churn records customer_id=", records, {"customer_id": s["record_customer"]}),
        Case(
            "churn records deep",
            records,
            depth=_depth(s["records"], deep),
            deep=(
                "churn",
                "SELECT detected_at, id FROM churn_records WHERE folded_into IS NULL"
                " ORDER BY detected_at DESC, id DESC",
                "CHURN_",
            ),
        ),
        Case("churn record", f"{records}/{s['record_id']}"),
        Case("churn record suggested-reasons", f"{records}/{s['record_id']}/suggested-reasons"),
        Case("churn reasons list", "/api/v1/churn/reasons"),
        Case("churn reason", "/api/v1/churn/reasons/price"),
        Case("churn alerts", "/api/v1/churn/alerts"),
        Case("churn alerts dimension=region", "/api/v1/churn/alerts", {"dimension": "region"}),
        *([Case("churn alert", f"/api/v1/churn/alerts/{s['alert_id']}")] if s["alert_id"] else []),
        Case("watchlist", watch),
        *(
            Case(f"watchlist signal={signal}", watch, {"signal": signal})
            for signal in ("silent", "complaints", "lapsed_top", "narrow_lines", "declining")
        ),
        Case("watchlist abc_class=A stage=decline", watch, {"abc_class": "A", "stage": "decline"}),
        Case("watchlist region=north signal=silent", watch, {"region": "north", "signal": "silent"}),
        Case(
            "watchlist deep",
            watch,
            depth=_depth(s["watched"], deep),
            deep=(
                "churn",
                "SELECT tier, value_at_risk::text, customer_id::text FROM watchlist_entries WHERE listed"
                " ORDER BY tier DESC, value_at_risk DESC, customer_id DESC",
                "CHURN_",
            ),
        ),
        Case("watchlist entry", f"{watch}/{s['watch_customer']}"),
        Case("watchlist settings", f"{watch}/settings"),
        Case("watchlist summary", f"{watch}/summary"),
        Case("watchlist summary signal=silent", f"{watch}/summary", {"signal": "silent"}),
        Case("watchlist summary abc_class=A region=north", f"{watch}/summary", {"abc_class": "A", "region": "north"}),
        Case("winback rules", "/api/v1/churn/winback/rules"),
        Case("winback cases", cases),
        Case("winback cases status=analysis", cases, {"status": "analysis"}),
        Case("winback cases status=lost", cases, {"status": "lost"}),
        Case("winback cases owner=agent-7", cases, {"owner": "agent-7"}),
        Case("winback cases strategy=tailored_offer", cases, {"strategy": "tailored_offer"}),
        Case("winback cases customer_id=", cases, {"customer_id": s["record_customer"]}),
        Case(
            "winback cases deep",
            cases,
            depth=_depth(s["cases"], deep),
            deep=("churn", "SELECT opened_at, id FROM winback_cases ORDER BY opened_at DESC, id DESC", "CHURN_"),
        ),
        *([Case("winback case", f"{cases}/{s['case_id']}")] if s["case_id"] else []),
        *(
            Case(f"winback report by={by}", "/api/v1/churn/winback/report", {"by": by})
            for by in ("month", "quarter", "reason", "strategy", "owner")
        ),
    ]
    for case in c:
        if not case.name.startswith(("churn", "watchlist", "winback")):
            case.name = f"churn {case.name}"
    return c


def campaign_cases(s: dict[str, Any], deep: int) -> list[Case]:
    campaigns, email, phone = "/api/v1/campaigns", s["email_campaign"], s["phone_campaign"]
    return [
        Case("segments fields", "/api/v1/segments/fields"),
        Case("segments", "/api/v1/segments"),
        Case("segment", f"/api/v1/segments/{s['broad_segment']}"),
        Case("segment preview (broad)", f"/api/v1/segments/{s['broad_segment']}/preview"),
        Case("segment preview (broad) sample=0", f"/api/v1/segments/{s['broad_segment']}/preview", {"sample": "0"}),
        Case("segment preview (clv >= 100)", f"/api/v1/segments/{s['narrow_segment']}/preview"),
        Case("campaigns", campaigns),
        Case("campaigns status=launched", campaigns, {"status": "launched"}),
        Case("campaigns objective=win_back", campaigns, {"objective": "win_back"}),
        Case("campaign", f"{campaigns}/{email}"),
        Case("campaign holdouts", f"{campaigns}/holdouts"),
        Case("campaign results (email)", f"{campaigns}/{email}/results"),
        Case("campaign results (phone)", f"{campaigns}/{phone}/results"),
        Case("campaign batches", f"{campaigns}/{phone}/batches"),
        Case(f"campaign batch csv ({CSV_BATCH:,} rows)", f"{campaigns}/{phone}/batches/{s['csv_batch']}/csv"),
        Case("campaign call-tasks", f"{campaigns}/{phone}/call-tasks"),
        Case("campaign call-tasks status=open", f"{campaigns}/{phone}/call-tasks", {"status": "open"}),
        Case("campaign call-tasks status=done", f"{campaigns}/{phone}/call-tasks", {"status": "done"}),
        Case(
            "campaign call-tasks deep",
            f"{campaigns}/{phone}/call-tasks",
            depth=_depth(s["call_tasks"], deep),
            deep=(
                "campaign",
                f"SELECT customer_id FROM call_tasks WHERE campaign_id = '{phone}' ORDER BY customer_id",
                "CAMPAIGN_",
            ),
        ),
    ]
