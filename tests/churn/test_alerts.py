"""Mass-churn alerts: evaluated on each new record; a month's churn over `alert_factor` x the baseline's
monthly mean raises one alert per month and scope, and one `alert.mass_churn` event."""

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from .events import idem, published
from .test_reports import rebuild_ledger

URL = "/api/v1/churn/alerts"


async def _history(db: asyncpg.Connection, month_start: datetime, per_month: int, months: int = 12) -> None:
    """`per_month` records in each of the `months` months before `month_start`, all class C, region east."""
    await db.execute(
        """
        INSERT INTO customer_values (customer_id, since, abc_class, region)
        SELECT gen_random_uuid(), $1::timestamptz - interval '3 years', 'C', 'east' FROM generate_series(1, 1000)""",
        month_start,
    )
    await db.execute(
        """
        INSERT INTO churn_records (id, customer_id, status, source, detected_at, abc_class, region, margin)
        SELECT gen_random_uuid(), gen_random_uuid(), 'lost', 'declared',
               $1::timestamptz - make_interval(months => m) + interval '3 days', 'C', 'east', 0.1
        FROM generate_series(1, $2::int) m, generate_series(1, $3::int) k""",
        month_start,
        months,
        per_month,
    )
    await rebuild_ledger(db)  # the active customers at month start come from the churn-rate ledger


async def _declare(api: httpx.AsyncClient, at: datetime) -> None:
    r = await api.post(
        "/api/v1/churn/records", json={"customer_id": str(uuid.uuid4()), "detected_at": at.isoformat()}, headers=idem()
    )
    assert r.status_code == 201, r.text


async def test_a_burst_over_the_baseline_raises_one_alert(
    api: httpx.AsyncClient, db: asyncpg.Connection, settings
) -> None:
    now = datetime.now(UTC)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    await _history(db, month, per_month=2)  # baseline: 2 a month; factor 2 -> alert at 5 (alert_min_churned)
    at = month + (now - month) / 2
    for _ in range(4):
        await _declare(api, at)
    assert (await api.get(URL)).json()["items"] == []  # 4 < min 5
    await _declare(api, at)
    [alert] = (await api.get(URL)).json()["items"]
    assert alert["dimension"] == "overall"
    assert alert["churned"] == 5
    assert alert["factor"] == "2.500"
    assert alert["period_start"] == month.date().isoformat()
    assert "total quality management" in alert["recommendation"]
    [event] = await published(db, "alert.mass_churn")
    assert event["data"]["alert_id"] == alert["id"]
    assert event["subject"] is None
    # another record the same month updates the figures, no second alert or event
    await _declare(api, at)
    [again] = (await api.get(URL)).json()["items"]
    assert again["id"] == alert["id"]
    assert again["churned"] == 6
    assert len(await published(db, "alert.mass_churn")) == 1
    assert (await api.get(f"{URL}/{alert['id']}")).json()["churned"] == 6
    assert (await api.get(URL, params={"dimension": "region"})).json()["items"] == []


async def test_a_segment_over_its_baseline(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """Records of region east in a month with a high overall baseline: only the region's alert is raised."""
    now = datetime.now(UTC)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    await _history(db, month, per_month=1)  # east: 1 a month
    await db.execute(
        """INSERT INTO churn_records (id, customer_id, status, source, detected_at, region, margin)
           SELECT gen_random_uuid(), gen_random_uuid(), 'lost', 'declared', $1::timestamptz - interval '40 days',
                  'west', 0.1 FROM generate_series(1, 120)""",
        month,
    )  # overall baseline: (12 + 120) / 12 = 11 a month
    at = month + (now - month) / 2
    for _ in range(5):
        r = await api.post(
            "/api/v1/churn/records",
            json={"customer_id": str(uuid.uuid4()), "detected_at": at.isoformat()},
            headers=idem(),
        )
        # region comes from the read model: give each customer region east first
        await db.execute("UPDATE churn_records SET region = 'east' WHERE id = $1", uuid.UUID(r.json()["id"]))
    await _declare(api, at)  # region null on this one, but the 5 before it are east
    items = (await api.get(URL)).json()["items"]
    assert items == []  # the sixth record had no region: only overall evaluated, 6 < 2 x 11
    customer = uuid.uuid4()
    await db.execute("INSERT INTO customer_values (customer_id, region) VALUES ($1, 'east')", customer)
    await rebuild_ledger(db)
    r = await api.post(
        "/api/v1/churn/records", json={"customer_id": str(customer), "detected_at": at.isoformat()}, headers=idem()
    )
    assert r.json()["region"] == "east"
    [alert] = (await api.get(URL)).json()["items"]
    assert (alert["dimension"], alert["value"], alert["churned"]) == ("region", "east", 6)
    assert alert["factor"] == "6.000"
    assert alert["active_at_start"] == 1000


async def test_no_baseline_no_alert(api: httpx.AsyncClient) -> None:
    at = datetime.now(UTC) - timedelta(minutes=5)
    for _ in range(8):
        await _declare(api, at)
    assert (await api.get(URL)).json()["items"] == []
    assert (await api.get(URL, params={"from": "2026-13-01"})).status_code == 422


async def test_the_alerts_active_base_counts_the_churning_customer(
    api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """The active customers at the month's start come from the churn-rate ledger while the new record's own
    change is still being tracked: the churning customer, active at the start, is counted (as active_at
    counts it), not left out with its pending deltas."""
    now = datetime.now(UTC)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    await _history(db, month, per_month=2)
    known = [r[0] for r in await db.fetch("SELECT customer_id FROM customer_values LIMIT 5")]
    at = month + (now - month) / 2
    for customer in known:
        body = {"customer_id": str(customer), "detected_at": at.isoformat()}
        assert (await api.post("/api/v1/churn/records", json=body, headers=idem())).status_code == 201
    [alert] = (await api.get(URL, params={"dimension": "overall"})).json()["items"]
    assert (alert["churned"], alert["active_at_start"]) == (5, 1000)
    assert alert["rate"] == "0.005000"
