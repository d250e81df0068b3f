"""The win-back report from the kept month totals (winback/totals.py, triggers of migration 0007) against
grouping every closed case (winback.repository.report, the oracle): random cases in every state over two
years, with windows passed and not, then every kind of case write (insert, each state change, the sweep,
updates of keys, amounts and closing times, delete), compared after each round for every grouping and several
periods (open-ended, whole months, and partial months, which scan); also after compaction, and whole reports
from the kept totals against scan-only ones."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_churn.winback import repository, service, sweep, totals
from crm_churn.winback.schemas import ReportQuery
from crm_shared.db import create_engine
from tests.churn import test_rate_ledger

session = test_rate_ledger.session  # the fixture: a session on the test database
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")

START = datetime(2025, 1, 1, tzinfo=UTC)
STATES = ["analysis", "implementation", "won", "lost", "excluded", "merged"]
REASONS = ["price", "product", "attracted", None]
STRATEGIES = ["personal_conversation", "tailored_offer", None]
OWNERS = ["ann", "bob", "cid", None]
BYS = ["month", "quarter", "reason", "strategy", "owner"]
PERIODS: list[tuple[datetime | None, datetime | None]] = [
    (None, None),
    (datetime(2025, 6, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
    (None, datetime(2026, 1, 1, tzinfo=UTC)),
    (datetime(2025, 3, 1, tzinfo=UTC), None),
    (datetime(2025, 2, 10, 7, tzinfo=UTC), datetime(2026, 8, 3, tzinfo=UTC)),  # partial months: the scan
]


def _rows(rows: list[Any]) -> list[tuple[Any, ...]]:
    return [(r.key, r.closed, r.won, r.benefit, r.cost) for r in rows]


async def _same(session: AsyncSession, label: str) -> None:
    now = service.now_utc()
    for by in BYS:
        for from_, to in PERIODS:
            got = _rows(await totals.report(session, by, from_, to, now))
            expected = _rows(await repository.report(session, by, from_, to, now))
            assert got == expected, (label, by, from_, to)
    await session.commit()  # end the read transaction: the next step sees what was written since


def _case(rng: random.Random, record_id: uuid.UUID) -> tuple[Any, ...]:
    status = rng.choice(STATES)
    opened = START + timedelta(days=rng.randrange(0, 640), seconds=rng.randrange(86_400))
    window_ends = opened + timedelta(days=rng.randrange(1, 120), seconds=rng.randrange(86_400))
    closed_at = None
    if status in ("won", "lost") and rng.random() < 0.8:  # some closed cases without a closing time
        closed_at = opened + timedelta(days=rng.randrange(0, 150), seconds=rng.randrange(86_400))
    benefit = f"{rng.randrange(0, 400_000) / 100:.2f}" if status == "won" and rng.random() < 0.9 else None
    cost = f"{rng.randrange(0, 30_000) / 100:.2f}"
    return (
        uuid.uuid4(),
        record_id,
        uuid.uuid4(),
        status,
        rng.choice(REASONS),
        rng.choice(STRATEGIES),
        rng.choice(OWNERS),
        opened,
        window_ends,
        closed_at,
        benefit,
        cost,
    )


INSERT = """INSERT INTO winback_cases (id, record_id, customer_id, status, primary_reason, strategy, owner,
                                       expected_value, opened_at, window_ends_at, closed_at, benefit, cost)
            SELECT id, record_id, customer_id, status, primary_reason, strategy, owner, 100, opened_at,
                   window_ends_at, closed_at, benefit::numeric, cost::numeric
            FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[],
                        $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::text[], $12::text[])
                 AS c(id, record_id, customer_id, status, primary_reason, strategy, owner, opened_at,
                      window_ends_at, closed_at, benefit, cost)"""


async def _insert(db: asyncpg.Connection, rng: random.Random, n: int) -> list[uuid.UUID]:
    rows = [_case(rng, uuid.uuid4()) for _ in range(n)]
    await db.execute(  # each case's churn record, of its customer
        "INSERT INTO churn_records (id, customer_id, status, source, detected_at, revenue_12m, margin)"
        " SELECT unnest($1::uuid[]), unnest($2::uuid[]), 'churned', 'declared', now(), 0, 0",
        [r[1] for r in rows],
        [r[2] for r in rows],
    )
    await db.execute(INSERT, *[list(col) for col in zip(*rows, strict=True)])
    return [r[0] for r in rows]


async def test_the_kept_totals_match_the_scan(session: AsyncSession, db: asyncpg.Connection) -> None:
    rng = random.Random(13)
    ids = await _insert(db, rng, 200)
    ids += await _insert(db, rng, 1)  # a one-row statement too
    await _same(session, "inserted")
    assert (
        await db.fetchval(
            "SELECT count(*) FROM winback_cases WHERE status IN ('analysis', 'implementation')"
            " AND window_ends_at < now()"
        )
        > 0
    )  # the live part has cases to count

    # each state change, several statements each
    some = rng.sample(ids, 80)
    moves = [
        (
            "UPDATE winback_cases SET status = 'implementation', owner = 'dee', strategy = 'tailored_offer'"
            " WHERE id = ANY($1) AND status = 'analysis'",
            some[0:10],
        ),
        (
            "UPDATE winback_cases SET status = 'won', closed_at = now() - interval '20 days', benefit = 75.25"
            " WHERE id = ANY($1) AND status IN ('analysis', 'implementation')",
            some[10:20],
        ),
        (
            "UPDATE winback_cases SET status = 'lost', closed_at = now() WHERE id = ANY($1)"
            " AND status IN ('analysis', 'implementation')",
            some[20:30],
        ),
        ("UPDATE winback_cases SET status = 'excluded', exclusion = 'by hand' WHERE id = ANY($1)", some[30:35]),
        (
            "UPDATE winback_cases SET status = 'analysis', window_ends_at = now() + interval '30 days'"
            " WHERE id = ANY($1) AND status = 'excluded'",
            some[30:33],
        ),
        ("UPDATE winback_cases SET status = 'merged', merged_into = $2 WHERE id = ANY($1)", some[35:40]),
        ("UPDATE winback_cases SET status = 'lost' WHERE id = ANY($1) AND status = 'won'", some[40:45]),
        ("UPDATE winback_cases SET version = version + 1 WHERE id = ANY($1)", ids),  # moves nothing
        ("UPDATE winback_cases SET cost = cost + 12.5, benefit = NULL WHERE id = ANY($1)", some[45:50]),
        (
            "UPDATE winback_cases SET owner = NULL, strategy = 'bulk', primary_reason = 'price' WHERE id = ANY($1)",
            some[50:55],
        ),
        ("UPDATE winback_cases SET closed_at = closed_at + interval '45 days' WHERE id = ANY($1)", some[55:60]),
        (
            "UPDATE winback_cases SET window_ends_at = window_ends_at - interval '200 days' WHERE id = ANY($1)",
            some[60:65],
        ),
    ]
    for sql, targets in moves:
        await db.execute(sql, targets, *([some[40]] if "$2" in sql else []))
    await db.execute("DELETE FROM winback_cases WHERE id = ANY($1)", some[65:70])
    await _same(session, "changed")
    assert await db.fetchval("SELECT count(*) FROM winback_month_totals WHERE n < 0") > 0  # deltas appended

    # the sweep records passed windows as lost (one ORM update per case): they move from live to kept
    passed = await db.fetchval(
        "SELECT count(*) FROM winback_cases WHERE status IN ('analysis', 'implementation') AND window_ends_at < now()"
    )
    assert passed > 0
    await db.execute(
        "INSERT INTO settings_documents (name, body) VALUES ('winback', '{\"settle_after_hours\": 0}')"
        " ON CONFLICT (name) DO UPDATE SET body = EXCLUDED.body"
    )
    assert await service.sweep(session, batch=1000) == passed
    await session.commit()
    await _same(session, "swept")

    assert await totals.compact(session)
    await session.commit()
    await _same(session, "compacted")
    # one row per month and key: the unkeyed rows are as many as closing months of closed cases
    assert await db.fetchval("SELECT count(*) FROM winback_month_totals WHERE n < 0") == 0
    assert await db.fetchval("SELECT count(*) FROM winback_month_totals WHERE dim = ''") == await db.fetchval(
        "SELECT count(DISTINCT date_trunc('month', coalesce(closed_at, window_ends_at) AT TIME ZONE 'UTC'))"
        " FROM winback_cases WHERE status IN ('won', 'lost')"
    )

    # whole reports: identical with the kept totals and with scans only
    await _insert(db, rng, 30)  # more open and closed cases after the compaction
    scan_only = mock.patch.object(totals, "report", repository.report)
    for by in BYS:
        for from_, to in PERIODS:
            query = ReportQuery.model_validate({"by": by, "from": from_, "to": to})
            fast = await service.report(session, query)
            with scan_only:
                assert (await service.report(session, query)).model_dump_json() == fast.model_dump_json(), by
            assert fast.total.closed == sum(r.closed for r in fast.rows)
        await session.commit()


async def test_the_periodic_sweep_compacts_the_totals(
    settings: Any, session: AsyncSession, db: asyncpg.Connection
) -> None:
    rng = random.Random(5)
    ids = await _insert(db, rng, 60)
    await db.execute("UPDATE winback_cases SET closed_at = closed_at + interval '45 days' WHERE id = ANY($1)", ids)
    assert await db.fetchval("SELECT count(*) FROM winback_month_totals WHERE n < 0") > 0
    engine = create_engine(settings.async_database_url, application_name="test-winback-sweep")
    try:
        await sweep._sweep_and_log(async_sessionmaker(engine))
    finally:
        await engine.dispose()
    assert await db.fetchval("SELECT count(*) FROM winback_month_totals WHERE n < 0") == 0
    await _same(session, "swept and compacted")
