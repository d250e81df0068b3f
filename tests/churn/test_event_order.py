"""The customer read model under late and repeated events: a stage or score older than the stored one
changes nothing (nor the records and watchlist built on it), the same event again changes nothing, and the
final state does not depend on the order events arrive in."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import httpx

from .events import customer_event, deliver, lifecycle_changed, score_changed

NOW = datetime.now(UTC).replace(microsecond=0)
RECORDS = "/api/v1/churn/records"


async def _values(db: asyncpg.Connection, cid: uuid.UUID) -> asyncpg.Record:
    row = await db.fetchrow(
        "SELECT stage, stage_at, clv, abc_class, churn_risk, scored_at FROM customer_values WHERE customer_id = $1",
        cid,
    )
    assert row is not None
    return row


async def test_a_late_older_stage_changes_nothing(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    cid = uuid.uuid4()
    await deliver(api, customer_event("customer.created", cid))
    await deliver(api, lifecycle_changed(cid, NOW, "decline", "maturity"))
    await deliver(api, lifecycle_changed(cid, NOW - timedelta(days=5), "growth", "acquisition"))  # late
    row = await _values(db, cid)
    assert (row["stage"], row["stage_at"]) == ("decline", NOW)
    [entry] = (await api.get("/api/v1/churn/watchlist", params={"signal": "declining"})).json()["items"]
    assert entry["customer_id"] == str(cid)


async def test_a_late_older_churned_stage_opens_no_record(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    cid = uuid.uuid4()
    await deliver(api, lifecycle_changed(cid, NOW, "maturity", "decline"))
    late = lifecycle_changed(cid, NOW - timedelta(days=2), "churned", "decline")
    await deliver(api, late)
    assert (await api.get(RECORDS, params={"customer_id": str(cid)})).json()["items"] == []
    assert (await _values(db, cid))["stage"] == "maturity"


async def test_a_late_older_score_changes_nothing(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    cid = uuid.uuid4()
    await deliver(api, score_changed(cid, NOW, churn_risk=0.2, clv="900.00", abc_class="B"))
    await deliver(api, score_changed(cid, NOW - timedelta(days=1), churn_risk=0.9, clv="5000.00", abc_class="A"))
    row = await _values(db, cid)
    assert (row["clv"], row["abc_class"], row["churn_risk"], row["scored_at"]) == (Decimal("900.00"), "B", 0.2, NOW)


async def test_any_arrival_order_and_redelivery_give_the_newest(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    stages = [("acquisition", None), ("growth", "acquisition"), ("maturity", "growth"), ("decline", "maturity")]
    for n, order in enumerate(itertools.permutations(range(4))):
        if n % 5:  # 5 of the 24 orders keep the test short; each is checked against the newest event
            continue
        cid = uuid.uuid4()
        events = [
            (
                lifecycle_changed(cid, NOW + timedelta(hours=i), *stages[i]),
                score_changed(cid, NOW + timedelta(hours=i), churn_risk=0.1 * (i + 1), clv=f"{100 * (i + 1)}.00"),
            )
            for i in range(4)
        ]
        for i in order:
            await deliver(api, *events[i])
        await deliver(api, *events[order[0]])  # redelivered: the inbox acknowledges it, nothing changes
        row = await _values(db, cid)
        assert (row["stage"], row["stage_at"]) == ("decline", NOW + timedelta(hours=3)), order
        assert (row["clv"], row["scored_at"]) == (Decimal("400.00"), NOW + timedelta(hours=3)), order
