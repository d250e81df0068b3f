"""Win-back cases from the churn service reach the campaign service as events, and a segment can target
the customers whose case is open (a win-back campaign), whatever order the events arrive in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from crm_shared.events import Publisher
from crm_shared.schemas.churn import WinbackClosedData, WinbackMergedData, WinbackOpenedData
from tests.campaign.support import add_audience, deliver
from tests.scoring.events import merged

CHURN = Publisher("/services/churn")
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def opened(case: uuid.UUID, customer: uuid.UUID) -> dict[str, Any]:
    data = WinbackOpenedData(
        case_id=case, record_id=uuid.uuid4(), customer_id=customer, strategy="personal_call", opened_at=NOW
    )
    return CHURN.event("winback.opened", subject=customer, data=data)


def folded(case: uuid.UUID, into: uuid.UUID, survivor: uuid.UUID) -> dict[str, Any]:
    data = WinbackMergedData(
        case_id=case,
        record_id=uuid.uuid4(),
        customer_id=survivor,
        merged_into=into,
        into_record_id=uuid.uuid4(),
        closed_at=NOW + timedelta(days=1),
    )
    return CHURN.event("winback.merged", subject=survivor, data=data)


def closed(case: uuid.UUID, customer: uuid.UUID, outcome: str) -> dict[str, Any]:
    data = WinbackClosedData(
        case_id=case,
        record_id=uuid.uuid4(),
        customer_id=customer,
        outcome=outcome,  # type: ignore[arg-type]
        closed_at=NOW + timedelta(days=3),
    )
    return CHURN.event(f"winback.{outcome}", subject=customer, data=data)


async def count(api: httpx.AsyncClient, value: str) -> int:
    r = await api.post("/api/v1/segments/preview", json={"rules": {"field": "winback", "op": "eq", "value": value}})
    assert r.status_code == 200, r.text
    return int(r.json()["count"])


async def test_a_segment_targets_the_customers_being_won_back(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    pursued, won, lost_first, none = await add_audience(db, [{}, {}, {}, {}])
    cases = {c: uuid.uuid4() for c in (pursued, won, lost_first)}
    await deliver(api, opened(cases[pursued], pursued), opened(cases[won], won))
    await deliver(api, closed(cases[won], won, "won"))
    # Out of order: the loss arrives before the opening, which must not reopen the case.
    await deliver(api, closed(cases[lost_first], lost_first, "lost"))
    await deliver(api, opened(cases[lost_first], lost_first))
    await deliver(api, opened(cases[pursued], pursued))  # a redelivery changes nothing

    assert await count(api, "open") == 1
    assert await count(api, "won") == 1
    assert await count(api, "lost") == 1
    r = await api.post("/api/v1/segments/preview", json={"rules": {"field": "winback", "op": "is_null"}})
    assert r.json()["count"] == 1
    states = dict(await db.fetch("SELECT customer_id, state FROM winback_cases"))
    assert states == {pursued: "open", won: "won", lost_first: "lost"}
    assert none not in states


async def test_an_unknown_case_state_is_refused_naming_the_value(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/v1/segments/preview", json={"rules": {"field": "winback", "op": "eq", "value": "maybe"}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "#/rules/value"


@pytest.mark.parametrize("churn_first", [False, True])
async def test_a_merged_case_ends_and_the_survivor_keeps_the_joined_one(
    api: httpx.AsyncClient, db: asyncpg.Connection, churn_first: bool
) -> None:
    """The survivor's own (later) case folds into the merged customer's case: the folded case ends, and the
    joined case, now the survivor's, decides what the segment reads, in either order of the two merges."""
    survivor, gone = await add_audience(db, [{}, {}])
    later, earlier = uuid.uuid4(), uuid.uuid4()
    await deliver(api, opened(later, survivor), opened(earlier, gone))
    assert await count(api, "open") == 2
    merges = [folded(later, earlier, survivor), merged(survivor, gone)]
    for event in merges[:: 1 if churn_first else -1]:
        await deliver(api, event)
    await deliver(api, *merges)  # redelivered: nothing changes
    rows = await db.fetch("SELECT case_id, customer_id, state FROM winback_cases")
    assert {r["case_id"]: (r["customer_id"], r["state"]) for r in rows} == {
        earlier: (survivor, "open"),
        later: (survivor, "merged"),  # a tombstone the segment field skips
    }
    assert await count(api, "open") == 1
    await deliver(api, closed(earlier, gone, "won"))  # churn's case keeps the id it was opened with
    assert await count(api, "open") == 0
    assert await count(api, "won") == 1


async def test_an_opening_applied_after_its_merge_does_not_reopen_the_folded_case(
    api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """A backlog can apply a case's merge before its opening (the inbox groups a batch by type)."""
    survivor, gone = await add_audience(db, [{}, {}])
    later, earlier = uuid.uuid4(), uuid.uuid4()
    await deliver(api, opened(earlier, gone), merged(survivor, gone), folded(later, earlier, survivor))
    await deliver(api, opened(later, survivor), closed(later, survivor, "lost"))  # late, and a stray close
    assert await db.fetchval("SELECT state FROM winback_cases WHERE case_id = $1", later) == "merged"
    assert await count(api, "open") == 1
    assert await count(api, "lost") == 0
