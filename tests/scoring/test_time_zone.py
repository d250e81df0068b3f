"""Purchase days, recency and the trend windows are days of the tenant's time zone (issue 12, finding 7): an
order at 23:30-05:00 is a purchase on its local day, not on the next UTC day."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from crm_scoring.batch.runner import run_batch
from crm_scoring.compute.summary import EPOCH, aggregate, day_number, local_epochs, read_summaries
from crm_scoring.rules.schemas import Tenant
from tests.scoring.helpers import insert_known, insert_purchase

BOGOTA = ZoneInfo("America/Bogota")  # -05:00 all year
PARIS = ZoneInfo("Europe/Paris")  # +01:00, +02:00 from the last Sunday of March to the last of October


async def set_zone(db, zone: str) -> None:
    await db.execute(
        "UPDATE rule_sets SET rules = $1::jsonb WHERE name = 'tenant'",
        json.dumps({"reporting_currency": "EUR", "time_zone": zone}),
    )


async def buyer(db, *times: datetime) -> uuid.UUID:
    c = await insert_known(db, uuid.uuid4())
    for at in times:
        await insert_purchase(db, c, at, "10.00")
    return c


def number(d: date) -> int:
    return (d - EPOCH).days


async def summary_of(db, c: uuid.UUID, as_of: datetime, tenant: Tenant | None = None) -> dict[str, int]:
    s = await read_summaries(db, as_of, trend_window_days=180, customers=[c], tenant=tenant)
    at = s.customer_ids().index(c)
    return {name: int(s[name][at]) for name in ("n_days", "n_orders", "first_day", "last_day")} | {
        "as_of_day": s.as_of_day
    }


async def test_the_issues_example_counts_an_evening_order_on_its_local_day(db):
    morning = datetime(2026, 6, 10, 10, 0, tzinfo=BOGOTA)
    evening = datetime(2026, 6, 10, 23, 30, tzinfo=BOGOTA)  # 2026-06-11 04:30 UTC
    c = await buyer(db, morning, evening)
    as_of = datetime(2026, 7, 1, tzinfo=UTC)
    in_utc = await summary_of(db, c, as_of)  # the default zone
    assert (in_utc["n_days"], in_utc["last_day"]) == (2, number(date(2026, 6, 11)))
    await set_zone(db, "America/Bogota")
    local = await summary_of(db, c, as_of)
    assert local["n_days"] == 1
    assert local["n_orders"] == 2
    assert local["first_day"] == local["last_day"] == number(date(2026, 6, 10))


async def test_days_follow_the_zone_across_daylight_saving_changes(db):
    await set_zone(db, "Europe/Paris")
    times = [
        datetime(2026, 3, 28, 23, 30, tzinfo=PARIS),  # +01:00: 22:30 UTC
        datetime(2026, 3, 29, 0, 30, tzinfo=PARIS),  # +01:00: 03-28 23:30 UTC, a new local day
        datetime(2026, 3, 29, 23, 30, tzinfo=PARIS),  # +02:00 since 02:00: 21:30 UTC, the same local day
        datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=PARIS),  # the hour played twice: +02:00 first
        datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=PARIS),  # then +01:00, the same local day
        datetime(2026, 10, 25, 23, 59, tzinfo=PARIS),
    ]
    c = await buyer(db, *times)
    as_of = datetime(2026, 10, 26, 12, tzinfo=UTC)
    s = await read_summaries(db, as_of, trend_window_days=180, customers=[c])
    assert int(s["n_days"][0]) == 3  # 03-28, 03-29, 10-25 in Paris
    assert int(s["first_day"][0]) == number(date(2026, 3, 28))
    assert int(s["last_day"][0]) == number(date(2026, 10, 25))
    assert s["first_at"][0] == times[0].timestamp()  # the instants themselves stay UTC
    assert s["last_at"][0] == times[-1].timestamp()
    assert s["first_spend"][0] == 10.0  # the first local day holds one order
    # In UTC the same orders fall on 03-28 (twice), 03-29, 10-25 (three times): the split differs.
    utc = await read_summaries(db, as_of, trend_window_days=180, customers=[c], tenant=Tenant())
    assert int(utc["n_days"][0]) == 3
    assert utc["first_spend"][0] == 20.0


def test_a_clock_going_back_over_midnight_does_not_split_a_day():
    # Orders of one customer in time order whose local days go 0, 1, 0 (a zone moving back over midnight):
    # still two purchase days.
    ids = np.frombuffer(uuid.uuid4().bytes * 3, dtype="V16")
    at = np.array([0.0, 3600.0, 7200.0])
    local = np.array([86_000.0, 86_500.0, 82_900.0])
    _, agg = aggregate(ids, at, np.array([1.0, 2.0, 3.0]), as_of_day=10, window=180, local=local)
    assert int(agg["n_days"][0]) == 2
    assert (int(agg["first_day"][0]), int(agg["last_day"][0])) == (0, 1)


async def test_recency_counts_local_days(db, engine, settings):
    await set_zone(db, "America/Bogota")
    order = datetime(2026, 6, 9, 23, 30, tzinfo=BOGOTA)  # 2026-06-10 04:30 UTC
    as_of = datetime(2026, 6, 10, 20, 0, tzinfo=UTC)  # 15:00 in Bogota, the next local day
    c = await buyer(db, order)
    result = await run_batch(engine, settings, as_of=as_of, store=False, keep_scores=True, refit=False)
    row = await db.fetchrow("SELECT * FROM run_scores WHERE run_id = $1 AND customer_id = $2", result.run_id, c)
    assert row["recency_days"] == 1  # 0 in UTC days
    in_utc = await summary_of(db, c, as_of, Tenant())
    assert in_utc["as_of_day"] - in_utc["last_day"] == 0  # what UTC days gave
    assert day_number(as_of, "America/Bogota") == number(date(2026, 6, 10))
    assert day_number(as_of + timedelta(hours=9), "America/Bogota") == number(date(2026, 6, 11))


@pytest.mark.parametrize("zone", ["Mars/Olympus", "utc+2", "", "Europe/paris"])
async def test_an_unknown_zone_is_refused_naming_the_field(api, zone):
    r = await api.put(
        "/api/v1/scores/rules/tenant",
        json={"reporting_currency": "EUR", "time_zone": zone},
        headers={"Idempotency-Key": str(uuid.uuid4()), "If-Match": '"1"'},
    )
    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == ["#/time_zone"]


async def test_a_zone_set_through_the_api_is_used(api, db):
    r = await api.put(
        "/api/v1/scores/rules/tenant",
        json={"reporting_currency": "EUR", "time_zone": "America/Bogota"},
        headers={"Idempotency-Key": str(uuid.uuid4()), "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    c = await buyer(db, datetime(2026, 6, 10, 23, 30, tzinfo=BOGOTA))
    assert (await summary_of(db, c, datetime(2026, 7, 1, tzinfo=UTC)))["last_day"] == number(date(2026, 6, 10))


@pytest.mark.parametrize(
    "zone", ["Europe/Paris", "America/St_Johns", "Australia/Lord_Howe", "Asia/Kathmandu", "Pacific/Apia"]
)
async def test_local_days_agree_with_postgresql(db, zone):
    # Random instants over 2010-2030 (Apia skipped 2011-12-30; Lord Howe shifts by 30 minutes; St John's
    # is -03:30/-02:30), plus every 15 minutes of 2026 and of Apia's skipped day's weeks, so every offset
    # change is crossed: PostgreSQL's AT TIME ZONE is the reference.
    rng = np.random.default_rng(7)
    start, end = datetime(2010, 1, 1, tzinfo=UTC).timestamp(), datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    y2026 = np.arange(datetime(2026, 1, 1, tzinfo=UTC).timestamp(), datetime(2027, 1, 1, tzinfo=UTC).timestamp(), 900)
    apia = np.arange(datetime(2011, 12, 20, tzinfo=UTC).timestamp(), datetime(2012, 1, 10, tzinfo=UTC).timestamp(), 900)
    at = np.sort(np.concatenate([np.round(rng.uniform(start, end, 20_000)), y2026, apia]))
    expected = await db.fetch(
        "SELECT extract(epoch FROM to_timestamp(t) AT TIME ZONE $2)::float8 AS local FROM unnest($1::float8[]) t",
        at.tolist(),
        zone,
    )
    assert np.array_equal(local_epochs(at, zone), np.array([r["local"] for r in expected]))
