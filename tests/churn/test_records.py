"""Churn records: declared with reasons, inferred from lifecycle and churn risk, value at churn kept,
won back by an order, folded on merges; bad input refused with nothing changed."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import httpx
import pytest

from .events import (
    complaint,
    customer_event,
    deliver,
    idem,
    lifecycle_changed,
    merged,
    order_created,
    published,
    score_changed,
)

URL = "/api/v1/churn/records"
NOW = datetime.now(UTC).replace(microsecond=0)
OPEN = ("churned", "in_winback")


async def _known_customer(api: httpx.AsyncClient, *, revenue: tuple[str, ...] = ("300.00", "700.00")) -> uuid.UUID:
    """A customer with an address region, scores and orders within the last 12 months (and one older)."""
    cid = uuid.uuid4()
    await deliver(api, customer_event("customer.created", cid, address={"region": "north"}))
    await deliver(api, score_changed(cid, NOW - timedelta(days=2), churn_risk=0.3, clv="5000.00"))
    orders = [order_created(cid, NOW - timedelta(days=30 * (i + 1)), amount) for i, amount in enumerate(revenue)]
    await deliver(api, *orders, order_created(cid, NOW - timedelta(days=400), "999.00"))
    return cid


async def test_declared_record_keeps_the_value_at_churn(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    cid = await _known_customer(api)
    r = await api.post(
        URL, json={"customer_id": str(cid), "reasons": ["price", "attracted"], "note": "went to X"}, headers=idem()
    )
    assert r.status_code == 201, r.text
    rec = r.json()
    assert r.headers["Location"].endswith(rec["id"])
    assert r.headers["ETag"] == f'"{rec["version"]}"'
    # open: churned, or in_winback when the win-back workflow took it up (an eligible A customer)
    assert rec["status"] in OPEN
    assert rec["source"] == "declared"
    assert rec["declared_by"]
    assert rec["reasons"] == ["attracted", "price"]
    assert (rec["clv"], rec["abc_class"], rec["segment"], rec["region"]) == ("5000.00", "A", "champions", "north")
    assert Decimal(rec["revenue_12m"]) == Decimal("1000.00")  # the 400-day-old order is outside the 12 months
    assert Decimal(rec["margin"]) == Decimal("0.10")
    assert rec["channel"] == "web"
    [event] = await published(db, "churn.detected")
    assert event["subject"] == str(cid)
    assert event["data"]["record_id"] == rec["id"]
    assert event["data"]["revenue_12m"] == "1000.00"
    assert event["data"]["reasons"] == ["attracted", "price"]

    again = await api.post(URL, json={"customer_id": str(cid)}, headers=idem())
    assert again.status_code == 409
    assert again.json()["record_id"] == rec["id"]


async def test_bad_input_changes_nothing(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    cid = str(uuid.uuid4())
    cases = [
        ({"customer_id": cid, "reasons": ["price", "nope"]}, "#/reasons/1"),
        ({"customer_id": cid, "margin": "1.5"}, "#/margin"),
        ({"customer_id": cid, "margin": "-0.1"}, "#/margin"),
        ({"customer_id": cid, "detected_at": (NOW + timedelta(days=3)).isoformat()}, "#/detected_at"),
        ({"customer_id": cid, "detected_at": "2026-01-01T00:00:00"}, "#/detected_at"),
        ({"customer_id": "not-a-uuid"}, "#/customer_id"),
        ({"customer_id": cid, "status": "lost"}, "#/status"),
    ]
    for body, pointer in cases:
        r = await api.post(URL, json=body, headers=idem())
        assert r.status_code == 422, (body, r.text)
        assert pointer in [e.get("pointer") for e in r.json()["errors"]], r.text
    assert await db.fetchval("SELECT count(*) FROM churn_records") == 0
    assert await published(db, "churn.detected") == []


async def test_update_reasons_and_status_machine(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    rec = (await api.post(URL, json={"customer_id": str(uuid.uuid4()), "reasons": ["price"]}, headers=idem())).json()
    one = f"{URL}/{rec['id']}"
    assert (await api.patch(one, json={"reasons": ["forced"]}, headers=idem())).status_code == 428
    assert (
        await api.patch(one, json={"reasons": ["forced"]}, headers={**idem(), "If-Match": '"9"'})
    ).status_code == 412
    bad = await api.patch(one, json={"reasons": ["forced", "ghost"]}, headers={**idem(), "If-Match": '"1"'})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "#/reasons/1"
    ok = await api.patch(one, json={"reasons": ["forced", "product"]}, headers={**idem(), "If-Match": '"1"'})
    assert ok.status_code == 200
    assert ok.json()["reasons"] == ["forced", "product"]
    assert ok.headers["ETag"] == '"2"'
    lost = await api.patch(one, json={"status": "lost"}, headers={**idem(), "If-Match": '"2"'})
    assert lost.json()["status"] == "lost"
    assert lost.json()["closed_at"]
    before = await db.fetch("SELECT * FROM churn_records")
    back = await api.patch(one, json={"status": "churned"}, headers={**idem(), "If-Match": '"3"'})
    assert back.status_code == 409
    assert back.json()["state"] == "lost"
    assert back.json()["allowed"] == []
    assert await db.fetch("SELECT * FROM churn_records") == before


async def test_list_filters_and_pages(api: httpx.AsyncClient) -> None:
    ids = []
    for i, reasons in enumerate((["price"], ["forced"], ["price", "attracted"])):
        at = (NOW - timedelta(days=10 - i)).isoformat()
        body = {"customer_id": str(uuid.uuid4()), "reasons": reasons, "detected_at": at}
        ids.append((await api.post(URL, json=body, headers=idem())).json()["id"])
    page1 = (await api.get(URL, params={"limit": 2})).json()
    page2 = (await api.get(URL, params={"limit": 2, "cursor": page1["next_cursor"]})).json()
    assert [r["id"] for r in page1["items"] + page2["items"]] == ids[::-1]
    assert page2["next_cursor"] is None
    priced = (await api.get(URL, params={"reason": "price"})).json()["items"]
    assert {r["id"] for r in priced} == {ids[0], ids[2]}
    recent = (await api.get(URL, params={"from": (NOW - timedelta(days=9, hours=1)).isoformat()})).json()["items"]
    assert {r["id"] for r in recent} == {ids[1], ids[2]}
    assert (await api.get(URL, params={"status": "gone"})).status_code == 422


async def test_lifecycle_churned_infers_a_record_and_an_order_wins_it_back(
    api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    cid = await _known_customer(api)
    await deliver(api, lifecycle_changed(cid, NOW - timedelta(days=1), "churned", "decline"))
    await deliver(api, lifecycle_changed(cid, NOW - timedelta(hours=20), "churned", "decline"))  # no second record
    [rec] = (await api.get(URL, params={"customer_id": str(cid)})).json()["items"]
    assert rec["source"] == "lifecycle"
    assert rec["stage"] == "decline"
    assert rec["status"] in OPEN

    order = order_created(cid, NOW, "120.00")
    await deliver(api, order)
    won = (await api.get(f"{URL}/{rec['id']}")).json()
    assert won["status"] == "won_back"
    assert won["won_back_order_id"] == order["data"]["order_id"]
    assert won["closed_at"]
    assert won["version"] == rec["version"] + 1
    assert len(await published(db, "churn.detected")) == 1


async def test_churn_risk_over_the_threshold_long_enough(api: httpx.AsyncClient, settings) -> None:
    cid = uuid.uuid4()
    start = NOW - timedelta(days=settings.risk_days + 30)
    await deliver(api, score_changed(cid, start, churn_risk=0.9))
    await deliver(api, score_changed(cid, start + timedelta(days=10), churn_risk=0.95))  # too soon
    assert (await api.get(URL, params={"customer_id": str(cid)})).json()["items"] == []
    # a dip under the threshold restarts the clock
    await deliver(api, score_changed(cid, start + timedelta(days=20), churn_risk=0.5))
    await deliver(api, score_changed(cid, start + timedelta(days=21), churn_risk=0.9))
    await deliver(api, score_changed(cid, start + timedelta(days=settings.risk_days + 1), churn_risk=0.9))
    assert (await api.get(URL, params={"customer_id": str(cid)})).json()["items"] == []
    await deliver(api, score_changed(cid, start + timedelta(days=21 + settings.risk_days), churn_risk=0.9))
    [rec] = (await api.get(URL, params={"customer_id": str(cid)})).json()["items"]
    assert rec["source"] == "risk"
    # won back, the risk still high: the same episode opens no new record
    await deliver(api, order_created(cid, NOW, "50.00"))
    await deliver(api, score_changed(cid, NOW + timedelta(seconds=1), churn_risk=0.9))
    assert [r["status"] for r in (await api.get(URL, params={"customer_id": str(cid)})).json()["items"]] == ["won_back"]


async def test_merge_folds_records(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    survivor, gone = uuid.uuid4(), uuid.uuid4()
    early = (
        await api.post(
            URL,
            json={"customer_id": str(gone), "reasons": ["price"], "detected_at": (NOW - timedelta(days=5)).isoformat()},
            headers=idem(),
        )
    ).json()
    late = (await api.post(URL, json={"customer_id": str(survivor), "reasons": ["attracted"]}, headers=idem())).json()
    await deliver(api, merged(survivor, gone))
    items = (await api.get(URL, params={"customer_id": str(survivor)})).json()["items"]
    assert [r["id"] for r in items] == [early["id"]]
    assert items[0]["reasons"] == ["attracted", "price"]
    assert (await api.get(f"{URL}/{late['id']}")).status_code == 404
    assert await db.fetchval("SELECT folded_into FROM churn_records WHERE id = $1", uuid.UUID(late["id"])) == uuid.UUID(
        early["id"]
    )
    # orders of the merged id now win back the survivor's record
    await deliver(api, order_created(gone, NOW, "10.00"))
    assert (await api.get(f"{URL}/{early['id']}")).json()["status"] == "won_back"


async def test_suggested_reasons_from_complaints(api: httpx.AsyncClient) -> None:
    cid = uuid.uuid4()
    open_one, priced = uuid.uuid4(), uuid.uuid4()
    await deliver(
        api,
        complaint(cid, category="delivery", status="open", complaint_id=open_one),
        complaint(cid, category="Price increase", status="open", complaint_id=priced),
    )
    # the price complaint is resolved later (a newer version); an older version arriving late changes nothing
    await deliver(
        api,
        complaint(
            cid, category="Price increase", status="resolved", version=3, complaint_id=priced, kind="complaint.resolved"
        ),
    )
    await deliver(
        api,
        complaint(
            cid,
            category="Price increase",
            status="in_progress",
            version=2,
            complaint_id=priced,
            kind="complaint.started",
        ),
    )
    rec = (await api.post(URL, json={"customer_id": str(cid), "reasons": ["price"]}, headers=idem())).json()
    got = (await api.get(f"{URL}/{rec['id']}/suggested-reasons")).json()["items"]
    by_reason = {s["reason"]: s for s in got}
    assert set(by_reason) == {"left_dissatisfied", "price"}
    assert [e["complaint_id"] for e in by_reason["left_dissatisfied"]["evidence"]] == [str(open_one)]
    assert by_reason["price"]["applied"] is True
    assert by_reason["left_dissatisfied"]["applied"] is False
    # never applied silently
    assert (await api.get(f"{URL}/{rec['id']}")).json()["reasons"] == ["price"]


@pytest.mark.parametrize("scope", ["churn:read"])
async def test_reading_needs_the_scope(settings, scope: str) -> None:
    from crm_churn.main import create_app
    from crm_shared.testing import app_client, user_headers

    async with app_client(create_app(settings), headers=user_headers("u", "customers:read", service="churn")) as c:
        assert (await c.get(URL)).status_code == 403
    async with app_client(create_app(settings), headers=user_headers("u", scope, service="churn")) as c:
        assert (await c.get(URL)).status_code == 200
        assert (await c.post(URL, json={"customer_id": str(uuid.uuid4())}, headers=idem())).status_code == 403
