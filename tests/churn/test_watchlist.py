"""The risk watchlist on real PostgreSQL: signals fed by customer and scoring events, the reasons and
evidence of each entry, the order (priority tier, then value at risk = CLV x churn risk), filters, pages,
out-of-order and merged events, and the thresholds as data (If-Match)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from crm_shared.events import new_event
from tests.churn.events import (
    CUSTOMER,
    complaint,
    customer_event,
    deliver,
    idem,
    lifecycle_changed,
    merged,
    order_created,
    score_changed,
)

WATCHLIST = "/api/v1/churn/watchlist"
NOW = datetime.now(UTC)
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


def interaction(customer_id: uuid.UUID, occurred_at: datetime) -> dict[str, Any]:
    data = {
        "interaction_id": str(uuid.uuid4()),
        "customer_id": str(customer_id),
        "channel": "call",
        "direction": "outbound",
        "staff": "agent-1",
        "occurred_at": occurred_at.isoformat(),
    }
    return new_event("interaction.logged", source=CUSTOMER, subject=str(customer_id), data=data)


def scored(
    customer_id: uuid.UUID,
    *,
    clv: str,
    risk: float,
    abc: str = "B",
    as_of: datetime = NOW,
    gold: bool = False,
    previous_clv: str | None = None,
) -> dict[str, Any]:
    event = score_changed(customer_id, as_of, churn_risk=risk, clv=clv, abc_class=abc)
    event["data"].update(gold=gold, previous_clv=previous_clv)
    return event


def known(customer_id: uuid.UUID, since: datetime) -> dict[str, Any]:
    """customer.created of a customer created at `since`, with one recent interaction unless told."""
    return customer_event("customer.created", customer_id, created_at=since.isoformat())


async def entries(api: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    r = await api.get(WATCHLIST, params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def signals(entry: dict[str, Any]) -> set[str]:
    return {reason["signal"] for reason in entry["reasons"]}


@pytest.fixture
async def base(api: httpx.AsyncClient) -> dict[str, uuid.UUID]:
    """One customer per signal (each contacted recently unless it is the silent one), one with none, one
    churned; values at risk chosen so the expected order is known."""
    ids = {name: uuid.uuid4() for name in ("key", "declining", "narrow", "silent", "lapsed", "fine", "churned")}
    recent = NOW - timedelta(days=5)
    events: list[dict[str, Any]] = []
    for name, cid in ids.items():
        events.append(known(cid, NOW - timedelta(days=400)))
        if name != "silent":
            events.append(interaction(cid, recent))
    # key: a key account (A) with two complaints, one unresolved; small value at risk (100 x 0.5 = 50).
    events += [scored(ids["key"], clv="100.00", risk=0.5, abc="A")]
    events += [complaint(ids["key"]), complaint(ids["key"], status="resolved", kind="complaint.resolved")]
    # declining: stage decline; 10,000 x 0.3 = 3,000.
    events += [
        scored(ids["declining"], clv="10000.00", risk=0.3),
        lifecycle_changed(ids["declining"], NOW, "decline", "maturity"),
    ]
    # narrow: three orders, one product line; 2,000 x 0.5 = 1,000.
    events += [scored(ids["narrow"], clv="2000.00", risk=0.5)]
    events += [
        order_created(ids["narrow"], NOW - timedelta(days=d), "10.00", product_lines=("tea",)) for d in (30, 20, 10)
    ]
    # silent: no interaction ever, known for 400 days; 1,000 x 0.2 = 200.
    events += [scored(ids["silent"], clv="1000.00", risk=0.2)]
    # lapsed: gold, last order last year; 4,000 x 0.1 = 400.
    events += [scored(ids["lapsed"], clv="4000.00", risk=0.1, gold=True)]
    events += [
        order_created(ids["lapsed"], datetime(NOW.year - 1, 6, 1, tzinfo=UTC), "900.00", product_lines=("a", "b", "c"))
    ]
    # fine: a recent order across three lines, contacted, value 9,000 x 0.9 but no signal.
    events += [scored(ids["fine"], clv="9000.00", risk=0.9)]
    events += [
        order_created(ids["fine"], NOW - timedelta(days=d), "10.00", product_lines=("a", "b", "c")) for d in (3, 2)
    ]
    # churned: silent and valuable, but churned: win-back's, not the watchlist's.
    events += [
        scored(ids["churned"], clv="50000.00", risk=0.99),
        lifecycle_changed(ids["churned"], NOW, "churned", "decline"),
    ]
    await deliver(api, *events)
    return ids


async def test_each_signal_lists_the_customer_with_its_reason_and_evidence(
    api: httpx.AsyncClient, base: dict[str, uuid.UUID]
) -> None:
    listed = await entries(api)
    by_id = {uuid.UUID(e["customer_id"]): e for e in listed}
    name_of = {cid: name for name, cid in base.items()}
    # Key account with repeated complaints first, then by value at risk (CLV x churn risk), descending.
    assert [name_of[uuid.UUID(e["customer_id"])] for e in listed] == ["key", "declining", "narrow", "lapsed", "silent"]
    assert [Decimal(e["value_at_risk"]) for e in listed] == [Decimal(v) for v in ("50", "3000", "1000", "400", "200")]
    assert by_id[base["key"]]["priority"] is True
    assert signals(by_id[base["key"]]) == {"complaints"}
    assert signals(by_id[base["declining"]]) == {"declining"}
    assert signals(by_id[base["narrow"]]) == {"narrow_lines"}
    assert signals(by_id[base["lapsed"]]) == {"lapsed_top"}
    assert signals(by_id[base["silent"]]) == {"silent"}
    complaints = by_id[base["key"]]["reasons"][0]
    assert complaints["detail"].startswith("1 unresolved complaint(s) of 2")
    assert complaints["evidence"] == [{"rel": "complaints", "href": f"/api/v1/complaints?customer_id={base['key']}"}]
    silent = by_id[base["silent"]]["reasons"][0]
    assert "no interaction for 400 days" in silent["detail"]
    assert {link["rel"] for link in silent["evidence"]} == {"interactions", "customer"}
    # The unlisted ones still answer, saying they are not on the list.
    for name in ("fine", "churned"):
        one = await api.get(f"{WATCHLIST}/{base[name]}")
        assert one.status_code == 200
        assert one.json()["listed"] is False
        assert one.json()["reasons"] == []
    assert (await api.get(f"{WATCHLIST}/{uuid.uuid4()}")).status_code == 404


async def test_filters_and_pages(api: httpx.AsyncClient, base: dict[str, uuid.UUID]) -> None:
    assert [e["customer_id"] for e in await entries(api, signal="complaints")] == [str(base["key"])]
    assert [e["customer_id"] for e in await entries(api, signal="silent")] == [str(base["silent"])]
    assert [e["customer_id"] for e in await entries(api, signal="lapsed_top")] == [str(base["lapsed"])]
    assert [e["customer_id"] for e in await entries(api, abc_class="A")] == [str(base["key"])]
    assert [e["customer_id"] for e in await entries(api, stage="decline")] == [str(base["declining"])]
    bad = await api.get(WATCHLIST, params={"signal": "moon"})
    assert bad.status_code == 422
    assert "signal" in bad.text
    # Pages of two walk the same order, with no entry twice.
    seen: list[str] = []
    cursor = None
    while True:
        r = await api.get(WATCHLIST, params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        seen += [e["customer_id"] for e in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["customer_id"] for e in await entries(api)]
    first = (await api.get(WATCHLIST, params={"limit": 2})).json()["next_cursor"]
    other = await api.get(WATCHLIST, params={"limit": 2, "signal": "silent", "cursor": first})
    assert other.status_code == 400


async def test_out_of_order_and_redelivered_scores(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    cid = uuid.uuid4()
    newer = scored(cid, clv="500.00", risk=0.4, as_of=NOW, previous_clv="1000.00")  # fell 50%
    older = scored(cid, clv="2000.00", risk=0.1, as_of=NOW - timedelta(days=3), gold=True)
    await deliver(api, known(cid, NOW - timedelta(days=1)), newer)
    await deliver(api, older)
    await deliver(api, newer)  # the same event again: the inbox acknowledges it, nothing changes
    row = await db.fetchrow(
        "SELECT gold, fall, value_at_risk, declining FROM watchlist_entries WHERE customer_id = $1", cid
    )
    assert row is not None
    assert row["gold"] is False
    assert row["fall"] == pytest.approx(0.5)
    assert row["value_at_risk"] == Decimal("200.00")
    assert row["declining"] is True
    [entry] = await entries(api, signal="declining")
    assert "value fell 50% at the last score change" in entry["reasons"][0]["detail"]


async def test_a_merge_folds_the_signals_into_the_survivor(api: httpx.AsyncClient, base: dict[str, uuid.UUID]) -> None:
    survivor = uuid.uuid4()
    await deliver(api, known(survivor, NOW - timedelta(days=2)), scored(survivor, clv="100.00", risk=0.5, abc="A"))
    await deliver(api, merged(survivor, base["key"]))
    assert (await api.get(f"{WATCHLIST}/{base['key']}")).json()["listed"] is False
    folded = (await api.get(f"{WATCHLIST}/{survivor}")).json()
    assert folded["listed"] is True
    assert folded["priority"] is True
    assert signals(folded) == {"complaints"}
    assert str(base["key"]) not in [e["customer_id"] for e in await entries(api)]


async def test_settings_are_data_with_if_match(
    api: httpx.AsyncClient, base: dict[str, uuid.UUID], db: asyncpg.Connection
) -> None:
    url = f"{WATCHLIST}/settings"
    read = await api.get(url)
    assert read.status_code == 200
    assert read.headers["ETag"] == '"0"'
    assert read.json()["settings"]["silence_days"] == 90
    body = {**read.json()["settings"], "silence_days": 500, "narrow_max_lines": 1}
    assert (await api.put(url, json=body, headers=idem())).status_code == 428
    assert (await api.put(url, json=body, headers={**idem(), "If-Match": '"7"'})).status_code == 412
    bad = await api.put(url, json={**body, "silence_days": 0}, headers={**idem(), "If-Match": '"0"'})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "#/silence_days"
    unknown = await api.put(url, json={**body, "colour": "red"}, headers={**idem(), "If-Match": '"0"'})
    assert unknown.status_code == 422
    assert await db.fetchval("SELECT count(*) FROM settings_documents") == 0
    ok = await api.put(url, json=body, headers={**idem(), "If-Match": '"0"'})
    assert ok.status_code == 200
    assert ok.headers["ETag"] == '"1"'
    # Silence now needs 500 days; narrow means a single line: the same customer stays (one line).
    assert [e["customer_id"] for e in await entries(api, signal="silent")] == []
    assert [e["customer_id"] for e in await entries(api, signal="narrow_lines")] == [str(base["narrow"])]
    body["narrow_min_orders"] = 4  # three orders are no longer enough: the flag is re-derived at once
    assert (await api.put(url, json=body, headers={**idem(), "If-Match": '"1"'})).status_code == 200
    assert await entries(api, signal="narrow_lines") == []
