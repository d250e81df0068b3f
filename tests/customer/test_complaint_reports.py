"""Complaint reports: daily chart, first-contact resolution rate, overdue list, repeat complainants."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest

from .helpers import idem, snapshot
from .test_complaints import URL, _ts, move, new_customer, open_complaint

REPORTS = f"{URL}/reports"


def _at(day: date, hour: int, minute: int = 0) -> str:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC).isoformat()


def _counts(points: list[dict]) -> dict[tuple[str, str], int]:
    return {(p["day"], p["group"]): p["count"] for p in points if p["count"]}


# -- daily ---------------------------------------------------------------------------------------


async def test_daily_by_severity_is_zero_filled(api):
    customer = await new_customer(api)
    d0 = datetime.now(UTC).date() - timedelta(days=10)
    d1, d2, d3 = (d0 + timedelta(days=i) for i in (1, 2, 3))
    await open_complaint(api, customer, severity="high", opened_at=_at(d0, 10))
    await open_complaint(api, customer, severity="high", opened_at=_at(d0, 23, 30))
    await open_complaint(api, customer, severity="low", opened_at=_at(d2, 0, 10))
    await open_complaint(api, customer, severity="high", opened_at=_at(d0 - timedelta(days=1), 23, 59))  # before
    await open_complaint(api, customer, severity="critical", opened_at=_at(d3, 0, 0))  # after
    r = await api.get(f"{REPORTS}/daily", params={"from": d0.isoformat(), "to": d2.isoformat(), "by": "severity"})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["from"] == d0.isoformat()
    assert report["to"] == d2.isoformat()
    assert report["by"] == "severity"
    assert report["groups"] == ["low", "medium", "high", "critical"]
    assert len(report["points"]) == 12
    assert [(p["day"], p["group"]) for p in report["points"][:5]] == [
        (d0.isoformat(), "low"),
        (d0.isoformat(), "medium"),
        (d0.isoformat(), "high"),
        (d0.isoformat(), "critical"),
        (d1.isoformat(), "low"),
    ]
    assert _counts(report["points"]) == {(d0.isoformat(), "high"): 2, (d2.isoformat(), "low"): 1}
    assert sum(p["count"] for p in report["points"]) == 3


async def test_daily_by_category_keeps_inactive_categories_with_complaints(api):
    customer = await new_customer(api)
    for key in ("legacy", "unused"):
        await api.post(f"{URL}/categories", json={"key": key, "label": key.title()}, headers=idem())
    d0 = datetime.now(UTC).date() - timedelta(days=3)
    await open_complaint(api, customer, category="delivery", opened_at=_at(d0, 9))
    await open_complaint(api, customer, category="billing", opened_at=_at(d0, 12))
    await open_complaint(api, customer, category="billing", opened_at=_at(d0, 13))
    await open_complaint(api, customer, category="legacy", opened_at=_at(d0 + timedelta(days=1), 8))
    for key in ("legacy", "unused"):
        await api.patch(f"{URL}/categories/{key}", json={"active": False}, headers=idem())
    r = await api.get(f"{REPORTS}/daily", params={"from": d0.isoformat(), "to": (d0 + timedelta(days=1)).isoformat()})
    report = r.json()
    assert report["by"] == "category"
    assert report["groups"] == ["billing", "delivery", "legacy", "other", "price", "product_quality", "service"]
    assert len(report["points"]) == 14
    assert _counts(report["points"]) == {
        (d0.isoformat(), "billing"): 2,
        (d0.isoformat(), "delivery"): 1,
        ((d0 + timedelta(days=1)).isoformat(), "legacy"): 1,
    }


async def test_daily_defaults_to_the_last_30_days(api):
    report = (await api.get(f"{REPORTS}/daily", params={"by": "severity"})).json()
    today = datetime.now(UTC).date()
    assert report["to"] == today.isoformat()
    assert report["from"] == (today - timedelta(days=29)).isoformat()
    assert len(report["points"]) == 30 * 4
    assert all(p["count"] == 0 for p in report["points"])


async def test_daily_accepts_366_days(api):
    r = await api.get(f"{REPORTS}/daily", params={"from": "2025-01-01", "to": "2026-01-01", "by": "severity"})
    assert r.status_code == 200
    assert len(r.json()["points"]) == 366 * 4


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"from": "2026-03-02", "to": "2026-03-01"}, "from"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "to"),
        ({"from": "2026-13-01", "to": "2026-03-01"}, "from"),
        ({"from": "2026-03-01", "to": "yesterday"}, "to"),
        ({"by": "owner"}, "by"),
    ],
)
async def test_daily_bad_parameters(api, params, parameter):
    r = await api.get(f"{REPORTS}/daily", params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert [e["parameter"] for e in r.json()["errors"]] == [parameter]


# -- first-contact resolution --------------------------------------------------------------------


async def test_first_contact_resolution_rate(api, db):
    customer = await new_customer(api)
    today = datetime.now(UTC).date()

    async def resolved(fcr: bool) -> dict:
        c = await open_complaint(api, customer)
        await move(api, c["id"], "resolve", resolution_note="done", first_contact_resolution=fcr)
        return c

    await resolved(True)
    await resolved(False)
    closed = await resolved(True)
    await move(api, closed["id"], "close")  # still counts: it was resolved in the window
    reopened = await resolved(True)
    await move(api, reopened["id"], "reopen")  # no longer resolved
    await open_complaint(api, customer)  # never resolved
    earlier = await resolved(True)
    await db.execute(
        "UPDATE complaints SET resolved_at = resolved_at - interval '5 days' WHERE id = $1", uuid.UUID(earlier["id"])
    )

    async def report(day_from: date, day_to: date) -> dict:
        r = await api.get(
            f"{REPORTS}/first-contact-resolution", params={"from": day_from.isoformat(), "to": day_to.isoformat()}
        )
        assert r.status_code == 200, r.text
        return r.json()

    assert await report(today, today) == {
        "from": today.isoformat(),
        "to": today.isoformat(),
        "resolved": 3,
        "first_contact": 2,
        "rate": 0.6667,
    }
    wider = await report(today - timedelta(days=5), today)
    assert (wider["resolved"], wider["first_contact"], wider["rate"]) == (4, 3, 0.75)
    empty = await report(today - timedelta(days=20), today - timedelta(days=20))
    assert (empty["resolved"], empty["first_contact"], empty["rate"]) == (0, 0, None)
    default = (await api.get(f"{REPORTS}/first-contact-resolution")).json()
    assert default["from"] == (today - timedelta(days=29)).isoformat()
    assert default["resolved"] == 4


async def test_first_contact_resolution_bad_range(api):
    r = await api.get(f"{REPORTS}/first-contact-resolution", params={"from": "2026-03-05", "to": "2026-03-01"})
    assert r.status_code == 422
    assert r.json()["errors"] == [{"detail": "must not be after to", "parameter": "from"}]


# -- overdue -------------------------------------------------------------------------------------


async def test_overdue_most_overdue_first(api):
    ana, bo = await new_customer(api, "Ana"), await new_customer(api, "Bo")
    now = datetime.now(UTC)
    critical = await open_complaint(api, ana, severity="critical", opened_at=(now - timedelta(hours=10)).isoformat())
    low = await open_complaint(api, bo, severity="low", opened_at=(now - timedelta(days=8)).isoformat(), owner="kim")
    started = await open_complaint(api, ana, severity="medium", opened_at=(now - timedelta(hours=74)).isoformat())
    await move(api, started["id"], "start")
    await open_complaint(api, ana, severity="high", opened_at=(now - timedelta(hours=1)).isoformat())  # not yet due
    done = await open_complaint(api, bo, severity="high", opened_at=(now - timedelta(days=2)).isoformat())
    await move(api, done["id"], "resolve", resolution_note="ok", first_contact_resolution=False)

    r = await api.get(f"{REPORTS}/overdue")
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["total"] == 3
    items = report["items"]
    assert [i["id"] for i in items] == [low["id"], critical["id"], started["id"]]
    for item, hours in zip(items, (24, 6, 2), strict=True):
        assert abs(item["hours_overdue"] - hours) < 0.05, item
    assert items[0]["owner"] == "kim"
    assert items[0]["customer_id"] == bo
    assert items[0]["severity"] == "low"
    assert items[0]["category"] == "delivery"
    assert items[2]["status"] == "in_progress"
    assert _ts(items[1]["due_at"]) == _ts(critical["opened_at"]) + timedelta(hours=4)
    page = (await api.get(f"{REPORTS}/overdue", params={"limit": 1})).json()
    assert page["total"] == 3
    assert [i["id"] for i in page["items"]] == [low["id"]]
    bad = await api.get(f"{REPORTS}/overdue", params={"limit": 0})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["parameter"] == "limit"


# -- repeat complainants -------------------------------------------------------------------------


async def test_repeat_complainants(api, db):
    now = datetime.now(UTC)
    ana, bo, cy = await new_customer(api, "Ana"), await new_customer(api, "Bo"), await new_customer(api, "Cy")
    old, survivor = await new_customer(api, "Old"), await new_customer(api, "Eve")

    async def complaint(customer: str, days: float, **over) -> dict:
        return await open_complaint(api, customer, opened_at=(now - timedelta(days=days)).isoformat(), **over)

    ana_last = await complaint(ana, 1, severity="high")
    await complaint(ana, 10, severity="low")
    await complaint(ana, 100, severity="critical")  # outside 90 days
    bo_last = await complaint(bo, 2, severity="critical")
    await move(api, bo_last["id"], "resolve", resolution_note="ok", first_contact_resolution=True)
    await complaint(bo, 50)
    await complaint(cy, 3)  # one complaint only
    await complaint(old, 5)
    eve_last = await complaint(survivor, 3)
    await db.execute(
        "UPDATE customers SET merged_into = $1, merged_at = now() WHERE id = $2", uuid.UUID(survivor), uuid.UUID(old)
    )

    r = await api.get(f"{REPORTS}/repeat-complainants")
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["window_days"] == 90
    assert report["min_complaints"] == 2
    rows = [
        (i["customer_id"], i["display_name"], i["complaints"], i["high_or_critical"], i["unresolved"])
        for i in report["items"]
    ]
    assert rows == [(ana, "Ana", 2, 1, 2), (bo, "Bo", 2, 1, 1), (survivor, "Eve", 2, 0, 2)]
    assert [_ts(i["last_complaint_at"]) for i in report["items"]] == [
        _ts(ana_last["opened_at"]),
        _ts(bo_last["opened_at"]),
        _ts(eve_last["opened_at"]),
    ]
    wider = (await api.get(f"{REPORTS}/repeat-complainants", params={"window_days": 120, "min_complaints": 3})).json()
    assert [(i["customer_id"], i["complaints"], i["high_or_critical"]) for i in wider["items"]] == [(ana, 3, 2)]
    none = (await api.get(f"{REPORTS}/repeat-complainants", params={"min_complaints": 4, "window_days": 366})).json()
    assert none["items"] == []


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"min_complaints": 0}, "min_complaints"),
        ({"window_days": 0}, "window_days"),
        ({"window_days": "x"}, "window_days"),
    ],
)
async def test_repeat_complainants_bad_parameters(api, db, params, parameter):
    before = await snapshot(db)
    r = await api.get(f"{REPORTS}/repeat-complainants", params=params)
    assert r.status_code == 422
    assert [e["parameter"] for e in r.json()["errors"]] == [parameter]
    assert await snapshot(db) == before
