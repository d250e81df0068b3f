"""The kept churned month totals (reports/totals.py, triggers of migration 0006) against scanning the records
(reports.repository, the oracle): random records over two years with random dimensions, statuses and reasons,
then every kind of write (status moves, win-backs, folds, reason changes, value and detection changes,
deletes), compared after each round for every single filter, won back or not, on whole-month spans; also after
compaction, and the reports themselves against the scan."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from unittest import mock

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from crm_churn.reports import repository, service, totals
from crm_churn.reports.schemas import ChurnRateFilters, ReportFilters
from tests.churn import test_rate_ledger

START = datetime(2025, 1, 1, tzinfo=UTC)
REASONS = ["price", "product", "technology", "attracted", "forced"]
VALUES = {
    "abc_class": ["A", "B", "C", None],
    "stage": ["growth", "decline", None],
    "segment": ["champions", "at_risk"],
    "region": ["north", "south", None],
    "channel": ["web", "phone"],
}
SPANS = [
    (datetime(2025, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
    (datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 9, 1, tzinfo=UTC)),
]
session = test_rate_ledger.session  # the fixture: a session on the test database
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


def _filters() -> list[dict[str, Any]]:
    one = [{name: v} for name, values in VALUES.items() for v in values if v is not None]
    return [{}, *one, *({"reason": r} for r in REASONS), {"reason": "political"}]  # political: cited by none


async def _same(session: AsyncSession, label: str) -> None:
    for filters in _filters():
        for start, end in SPANS:
            for lost_only in (False, True):
                got = await totals.churned_by_month(session, start, end, filters, lost_only=lost_only)
                expected = await repository.churned_by_month(session, start, end, filters, lost_only=lost_only)
                assert got == expected, (label, filters, start, lost_only)
                one = await totals.churned(session, start, end, filters, lost_only=lost_only)
                assert one == await repository.churned(session, start, end, filters, lost_only=lost_only), label
            sets = sorted(await totals.reason_sets(session, start, end, filters))
            assert sets == sorted(await repository.reason_sets(session, start, end, filters)), (label, filters)


def _record(rng: random.Random) -> tuple[Any, ...]:
    dims = [rng.choice(values) for values in VALUES.values()]
    status = rng.choice(["churned", "in_winback", "won_back", "lost"])
    detected = START + timedelta(days=rng.randrange(0, 700), seconds=rng.randrange(86_400))
    revenue = f"{rng.randrange(0, 90_000) / 100:.2f}"
    margin = rng.choice(["0.1", "0.2500", "0.3333", "1"])
    clv = None if rng.random() < 0.2 else f"{rng.randrange(0, 500_000) / 100:.2f}"
    return (uuid.uuid4(), uuid.uuid4(), status, "declared", detected, revenue, margin, clv, *dims)


INSERT = """INSERT INTO churn_records (id, customer_id, status, source, detected_at, revenue_12m, margin, clv,
                                       abc_class, stage, segment, region, channel)
            SELECT id, customer_id, status, source, detected_at, revenue::numeric, margin::numeric, clv::numeric,
                   abc_class, stage, segment, region, channel
            FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[],
                        $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])
                 AS r(id, customer_id, status, source, detected_at, revenue, margin, clv, abc_class, stage, segment,
                      region, channel)"""


async def _insert(db: asyncpg.Connection, rng: random.Random, n: int) -> list[uuid.UUID]:
    rows = [_record(rng) for _ in range(n)]
    # open records are unique per customer (distinct customers here), so any status goes
    await db.execute(INSERT, *[list(col) for col in zip(*rows, strict=True)])
    ids = [r[0] for r in rows]
    pairs = [(rid, k) for rid in ids for k in rng.sample(REASONS, rng.randrange(0, 3))]
    await db.executemany("INSERT INTO churn_record_reasons (record_id, reason_key) VALUES ($1, $2)", pairs)
    return ids


async def test_the_kept_totals_match_the_scan(session: AsyncSession, db: asyncpg.Connection) -> None:
    rng = random.Random(14)
    ids = await _insert(db, rng, 150)
    ids += await _insert(db, rng, 1)  # a one-row statement too
    await _same(session, "inserted")

    # every kind of write, several statements each
    some = rng.sample(ids, 40)
    await db.execute("UPDATE churn_records SET status = 'won_back', won_back_at = now() WHERE id = ANY($1)", some[:10])
    await db.execute(
        "UPDATE churn_records SET status = 'lost' WHERE id = ANY($1) AND status <> 'won_back'", some[10:20]
    )
    await db.execute("UPDATE churn_records SET folded_into = $1 WHERE id = ANY($2)", some[20], some[21:25])
    await db.execute("UPDATE churn_records SET version = version + 1 WHERE id = ANY($1)", ids)  # moves nothing
    await db.execute(
        "UPDATE churn_records SET revenue_12m = revenue_12m + 10.5, clv = NULL, region = 'east' WHERE id = ANY($1)",
        some[25:30],
    )
    await db.execute(
        "UPDATE churn_records SET detected_at = detected_at + interval '40 days' WHERE id = ANY($1)", some[30:35]
    )
    await db.execute("DELETE FROM churn_record_reasons WHERE record_id = ANY($1)", some[35:38])
    await db.execute(
        "INSERT INTO churn_record_reasons (record_id, reason_key) SELECT unnest($1::uuid[]), 'forced'"
        " ON CONFLICT DO NOTHING",
        some[35:40],
    )
    await db.execute("DELETE FROM churn_records WHERE id = ANY($1)", some[38:40])
    await db.execute("UPDATE churn_records SET folded_into = NULL WHERE id = $1", some[21])  # unfolded again
    await _same(session, "changed")
    assert await db.fetchval("SELECT count(*) FROM churn_month_totals WHERE n < 0") > 0  # deltas appended

    await totals.compact(session)
    await session.commit()
    await _same(session, "compacted")
    # one row per month, filter, won back and reason set: the unfiltered rows are as many as such triples
    assert await db.fetchval("SELECT count(*) FROM churn_month_totals WHERE dim = '' AND n < 0") == 0
    assert await db.fetchval("SELECT count(*) FROM churn_month_totals WHERE dim = ''") == await db.fetchval(
        "SELECT count(DISTINCT (date_trunc('month', detected_at AT TIME ZONE 'UTC'), status = 'won_back',"
        " reason_keys)) FROM churn_records WHERE folded_into IS NULL"
    )

    # The reports: identical answers with the kept totals and with scans only.
    scan_only = mock.patch.object(totals, "kept_filter", return_value=None)
    for filters in [{}, {"segment": "at_risk"}, {"reason": "forced"}, {"abc_class": "A", "region": "south"}]:
        report = ReportFilters.model_validate({"from": date(2025, 1, 1), "to": date(2027, 1, 1), **filters})
        fast_reasons = await service.reasons(session, report)
        with scan_only:
            assert await service.reasons(session, report) == fast_reasons
    for filters in [{}, {"region": "north"}, {"reason": "price"}, {"abc_class": "A", "region": "south"}]:
        for granularity in ("month", "quarter"):
            rate = ChurnRateFilters.model_validate(
                {"from": date(2025, 1, 1), "to": date(2027, 1, 1), "granularity": granularity, **filters}
            )
            fast = await service.churn_rate(session, rate)
            with scan_only:
                assert await service.churn_rate(session, rate) == fast
        for span in (
            {"from": date(2025, 1, 1), "to": date(2026, 1, 1)},
            {"from": date(2025, 2, 10), "to": date(2025, 8, 3)},
        ):
            report = ReportFilters.model_validate({**span, **filters})
            fast_profit = await service.profit_lost(session, report)
            with scan_only:
                assert await service.profit_lost(session, report) == fast_profit
            # the total is the exact span's (profit rounded once), not the months' sum
            start, end = datetime.combine(report.from_, time(), UTC), datetime.combine(report.to, time(), UTC)
            lost = await repository.churned(session, start, end, filters, lost_only=True)
            total = fast_profit.total
            assert (total.lost_customers, total.revenue_lost, total.profit_lost, total.clv_lost) == (
                lost.count,
                lost.revenue,
                lost.profit,
                lost.clv,
            )
