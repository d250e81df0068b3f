"""The churn-rate ledger against the query it replaced (reports.repository.active_series, the oracle): on
random histories of customer, order, score, lifecycle, merge events and declared records, delivered in a
random order with redeliveries, the ledger gives exactly the oracle's active customers and revenue at
every month start, under every filter; also after compaction and after a rebuild."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from crm_churn.reports import ledger, repository
from crm_shared.db import create_engine

from .events import customer_event, deliver, idem, lifecycle_changed, merged, order_created, score_changed

START = datetime(2025, 1, 1, tzinfo=UTC)
STARTS = [date(2025 + m // 12, m % 12 + 1, 1) for m in range(30)]
FILTERS: list[dict[str, Any]] = [
    {},
    {"abc_class": "A"},
    {"abc_class": "B", "region": "north"},
    {"segment": "champions"},
    {"stage": "decline"},
    {"channel": "phone"},
    {"region": "south", "channel": "web"},
]
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


def _at(rng: random.Random) -> datetime:
    return START + timedelta(days=rng.randrange(0, 700), hours=rng.randrange(24))


def _history(rng: random.Random, customers: list[uuid.UUID]) -> list[dict[str, Any]]:
    """Events of these customers over two years (each event built once: a redelivery is the same event)."""
    events: list[dict[str, Any]] = []
    for cid in customers:
        if rng.random() < 0.8:
            region = rng.choice(["north", "south", None])
            address = {"region": region} if region else None
            events.append(customer_event("customer.created", cid, address=address, created_at=_at(rng).isoformat()))
        for _ in range(rng.randrange(0, 5)):
            order = order_created(cid, _at(rng), f"{rng.randrange(1, 900)}.{rng.randrange(100):02d}")
            order["data"]["channel"] = rng.choice(["web", "phone"])
            events.append(order)
        for _ in range(rng.randrange(0, 3)):
            abc, segment = rng.choice("ABC"), rng.choice(["champions", "at_risk"])
            events.append(score_changed(cid, _at(rng), clv="100.00", abc_class=abc, segment=segment))
        for _ in range(rng.randrange(0, 3)):
            to = rng.choice(["growth", "maturity", "decline", "churned"])
            events.append(lifecycle_changed(cid, _at(rng), to, "maturity"))
    for _ in range(len(customers) // 4):
        survivor, gone = rng.sample(customers, 2)
        events.append(merged(survivor, gone))
    return events


@pytest.fixture
async def session(settings: Any) -> AsyncIterator[AsyncSession]:
    engine = create_engine(settings.async_database_url, application_name="test-ledger")
    try:
        async with engine.connect() as conn:
            yield AsyncSession(bind=conn)
    finally:
        await engine.dispose()


async def _same(session: AsyncSession, label: str) -> None:
    for filters in FILTERS:
        expected = await repository.active_series(session, STARTS, filters)
        got = await ledger.active_series(session, STARTS, filters)
        assert got == expected, (label, filters)
    await session.commit()  # end the read transaction: the next step sees what was written since


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_ledger_equals_the_oracle_on_random_histories(
    api: httpx.AsyncClient, db: asyncpg.Connection, session: AsyncSession, seed: int
) -> None:
    rng = random.Random(seed)
    customers = [uuid.uuid4() for _ in range(14)]
    events = _history(rng, customers)
    rng.shuffle(events)
    for i in range(0, len(events), 3):  # batches of up to three events of any types
        await deliver(api, *events[i : i + 3])
        if rng.random() < 0.3:  # a declared record now and then, some customers churn twice over time
            body = {"customer_id": str(rng.choice(customers)), "reasons": [], "detected_at": _at(rng).isoformat()}
            assert (await api.post("/api/v1/churn/records", json=body, headers=idem())).status_code in (201, 409)
    for cid in customers[::3]:  # late orders: the open records of these customers are won back
        await deliver(api, order_created(cid, START + timedelta(days=710), "50.00"))
    for event in rng.sample(events, len(events) // 5):
        await deliver(api, event)  # redelivered: nothing changes
    assert await db.fetchval("SELECT count(*) FROM churn_records") > 0
    assert await db.fetchval("SELECT count(*) FROM churn_records WHERE won_back_at IS NOT NULL") > 0
    await _same(session, "incremental")

    rows = await db.fetchval("SELECT count(*) FROM churn_rate_deltas")
    assert await ledger.compact(session) is True
    await session.commit()
    assert await db.fetchval("SELECT count(*) FROM churn_rate_deltas") < rows
    await _same(session, "compacted")
    compacted = await db.fetch(
        "SELECT m, abc_class, stage, segment, region, channel, n, revenue FROM churn_rate_deltas"
    )
    await ledger.rebuild(session)
    await session.commit()
    rebuilt = await db.fetch("SELECT m, abc_class, stage, segment, region, channel, n, revenue FROM churn_rate_deltas")
    assert sorted(map(tuple, compacted), key=repr) == sorted(map(tuple, rebuilt), key=repr)
