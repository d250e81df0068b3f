"""Win-back cases from the churn service reach the campaign service as events, and a segment can target
the customers whose case is open (a win-back campaign), whatever order the events arrive in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from crm_shared.events import Publisher
from crm_shared.schemas.churn import WinbackClosedData, WinbackOpenedData
from tests.campaign.support import add_audience, deliver

CHURN = Publisher("/services/churn")
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def opened(case: uuid.UUID, customer: uuid.UUID) -> dict[str, Any]:
    data = WinbackOpenedData(
        case_id=case, record_id=uuid.uuid4(), customer_id=customer, strategy="personal_call", opened_at=NOW
    )
    return CHURN.event("winback.opened", subject=customer, data=data)


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
