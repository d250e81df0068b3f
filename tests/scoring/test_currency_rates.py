"""Spend in the tenant's reporting currency (issue 12, finding 6): dated exchange rates loaded through the API,
each order converted at the rate in force on its order day, an order without a rate counted as a purchase but
never summed at face value; and the rates API's validation."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from crm_scoring.batch.runner import run_batch
from crm_scoring.compute.summary import read_summaries
from tests.scoring.events import deliver, order_created
from tests.scoring.helpers import insert_known, insert_purchase

URL = "/api/v1/scores/currency-rates"
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def idem() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def load(api, rates: list[tuple[str, str, str]], quote: str = "EUR") -> dict:
    body = {"quote_currency": quote, "rates": [{"currency": c, "valid_from": d, "rate": r} for c, d, r in rates]}
    r = await api.put(URL, json=body, headers=idem())
    assert r.status_code == 200, r.text
    return r.json()


async def buyer(db, *orders: tuple[datetime, str, str]) -> uuid.UUID:
    """A known customer with (ordered_at, amount, currency) orders."""
    c = await insert_known(db, uuid.uuid4())
    for at, amount, currency in orders:
        await insert_purchase(db, c, at, amount, currency=currency)
    return c


async def kept_scores(db, engine, settings) -> dict[uuid.UUID, dict]:
    result = await run_batch(engine, settings, as_of=AS_OF, store=False, keep_scores=True, refit=False)
    rows = await db.fetch("SELECT * FROM run_scores WHERE run_id = $1", result.run_id)
    return {r["customer_id"]: dict(r) for r in rows}


def day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 12, tzinfo=UTC)


async def test_the_issues_example_sums_in_the_reporting_currency(api, db, engine, settings):
    # 100 EUR + 10,000 JPY + 100 USD used to give 10,200; at 0.0061 and 0.92 EUR it is 100 + 61 + 92.
    await load(api, [("JPY", "2026-01-01", "0.0061"), ("USD", "2026-01-01", "0.92")])
    c = await buyer(
        db, (day(2026, 3, 1), "100.00", "EUR"), (day(2026, 4, 1), "10000.00", "JPY"), (day(2026, 5, 1), "100.00", "USD")
    )
    row = (await kept_scores(db, engine, settings))[c]
    assert row["total_spend"] == Decimal("253.00")
    assert row["order_count"] == 3


async def test_each_order_takes_the_rate_in_force_on_its_day(api, db, engine, settings):
    await load(api, [("USD", "2026-01-01", "0.90"), ("USD", "2026-06-01", "0.95"), ("USD", "2027-01-01", "2")])
    c = await buyer(
        db,
        (day(2026, 5, 31), "100.00", "USD"),  # the day before the change: 0.90
        (day(2026, 6, 1), "100.00", "USD"),  # the day of the change: 0.95
        (day(2026, 9, 1), "33.33", "USD"),  # 31.6635 -> 31.66 (each order to the cent)
    )
    row = (await kept_scores(db, engine, settings))[c]
    assert row["total_spend"] == Decimal("90.00") + Decimal("95.00") + Decimal("31.66")


async def test_an_order_without_a_rate_is_a_purchase_but_not_spend(api, db, engine, settings):
    await load(api, [("USD", "2026-06-01", "0.92")])
    c = await buyer(
        db,
        (day(2026, 3, 1), "50.00", "EUR"),
        (day(2026, 4, 1), "999.00", "GBP"),  # no GBP rate at all
        (day(2026, 5, 1), "100.00", "USD"),  # before the first USD rate
    )
    other = await buyer(db, (day(2026, 7, 1), "100.00", "USD"))
    row = (await kept_scores(db, engine, settings))[c]
    assert (row["total_spend"], row["order_count"], row["purchase_days"]) == (Decimal("50.00"), 3, 3)
    summaries = await read_summaries(db, AS_OF, trend_window_days=180)
    at = summaries.customer_ids().index(c)
    assert summaries["n_unpriced"][at] == 2
    assert summaries["total"][summaries.customer_ids().index(other)] == 92.0
    assert summaries.money_notes() == {
        "reporting_currency": "EUR",
        "time_zone": "UTC",
        "unconverted_orders": 2,
        "unconverted_customers": 1,
    }


async def test_one_yen_order_no_longer_makes_a_customer_class_a(api, db, engine, settings):
    await load(api, [("JPY", "2026-01-01", "0.0061")])
    yen = await buyer(db, (day(2026, 8, 1), "10000.00", "JPY"))  # 61 EUR, not 10,000
    euro = [await buyer(db, (day(2026, 8, 1), f"{100 + 10 * i}.00", "EUR")) for i in range(10)]
    rows = await kept_scores(db, engine, settings)
    assert rows[yen]["total_spend"] == Decimal("61.00")
    assert rows[yen]["abc_class"] == "C"
    assert rows[euro[-1]]["abc_class"] == "A"


async def test_events_score_in_the_reporting_currency_too(api, db):
    await load(api, [("JPY", "2026-01-01", "0.0061")])
    c = uuid.uuid4()
    event = order_created(c, datetime.now(UTC), "10000.00")
    event["data"]["currency"] = "JPY"
    await deliver(api, event)
    assert await db.fetchval("SELECT total_spend FROM customer_scores WHERE customer_id = $1", c) == Decimal("61.00")


async def test_another_reporting_currency_reads_the_rates_quoted_in_it(api, db, engine, settings):
    await load(api, [("USD", "2026-01-01", "0.92")])  # quoted in EUR: not for a USD tenant
    await load(api, [("EUR", "2026-01-01", "1.08")], quote="USD")
    await db.execute(
        "UPDATE rule_sets SET rules = $1::jsonb WHERE name = 'tenant'",
        json.dumps({"reporting_currency": "USD", "time_zone": "UTC"}),
    )
    c = await buyer(db, (day(2026, 3, 1), "100.00", "EUR"), (day(2026, 4, 1), "100.00", "USD"))
    assert (await kept_scores(db, engine, settings))[c]["total_spend"] == Decimal("208.00")


async def test_rates_load_idempotently_and_list_by_currency_and_day(api, reader):
    rates = [("USD", "2026-01-01", "0.92"), ("JPY", "2026-01-01", "0.0061"), ("USD", "2026-06-01", "0.95")]
    assert await load(api, rates) == {"quote_currency": "EUR", "created": 3, "updated": 0, "unchanged": 0}
    again = await load(api, [*rates[:2], ("USD", "2026-06-01", "0.9")])
    assert again == {"quote_currency": "EUR", "created": 0, "updated": 1, "unchanged": 2}
    first = await reader.get(URL, params={"limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert [(r["currency"], r["valid_from"], r["rate"]) for r in page["items"]] == [
        ("JPY", "2026-01-01", "0.0061000000"),
        ("USD", "2026-01-01", "0.9200000000"),
    ]
    rest = (await reader.get(URL, params={"limit": 2, "cursor": page["next_cursor"]})).json()
    assert [(r["valid_from"], r["rate"], r["updated_by"]) for r in rest["items"]] == [
        ("2026-06-01", "0.9000000000", "admin-1")
    ]
    assert rest["next_cursor"] is None
    usd = (await reader.get(URL, params={"currency": "USD"})).json()["items"]
    assert [r["valid_from"] for r in usd] == ["2026-01-01", "2026-06-01"]
    assert (await reader.get(URL, params={"quote_currency": "USD"})).json()["items"] == []


async def test_loading_rates_needs_scores_write(reader):
    body = {"quote_currency": "EUR", "rates": [{"currency": "USD", "valid_from": "2026-01-01", "rate": "1"}]}
    assert (await reader.put(URL, json=body, headers=idem())).status_code == 403


@pytest.mark.parametrize(
    ("rate", "pointer"),
    [
        ({"currency": "usd", "valid_from": "2026-01-01", "rate": "1"}, "#/rates/1/currency"),
        ({"currency": "ABC", "valid_from": "2026-01-01", "rate": "1"}, "#/rates/1/currency"),
        ({"currency": "USD", "valid_from": "2026-01-01", "rate": "0"}, "#/rates/1/rate"),
        ({"currency": "USD", "valid_from": "2026-01-01", "rate": "-0.5"}, "#/rates/1/rate"),
        ({"currency": "USD", "valid_from": "1850-01-01", "rate": "1"}, "#/rates/1/valid_from"),
        ({"currency": "USD", "valid_from": f"{date.today().year + 5}-01-01", "rate": "1"}, "#/rates/1/valid_from"),
        ({"currency": "EUR", "valid_from": "2026-01-01", "rate": "1"}, "#/rates/1/currency"),
        ({"currency": "JPY", "valid_from": "2026-01-01", "rate": "0.007"}, "#/rates/1/valid_from"),
    ],
)
async def test_a_bad_rate_refuses_the_load_naming_it(api, reader, rate, pointer):
    body = {"quote_currency": "EUR", "rates": [{"currency": "JPY", "valid_from": "2026-01-01", "rate": "0.0061"}, rate]}
    r = await api.put(URL, json=body, headers=idem())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert pointer in [e.get("pointer") for e in r.json()["errors"]]
    assert (await reader.get(URL)).json()["items"] == []  # nothing loaded


async def test_a_bad_quote_or_reporting_currency_is_refused(api):
    body = {"quote_currency": "XYZ", "rates": [{"currency": "USD", "valid_from": "2026-01-01", "rate": "1"}]}
    r = await api.put(URL, json=body, headers=idem())
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "#/quote_currency"
    r = await api.put(
        "/api/v1/scores/rules/tenant",
        json={"reporting_currency": "EURO", "time_zone": "UTC"},
        headers={**idem(), "If-Match": '"1"'},
    )
    assert r.status_code == 422
    assert [e["pointer"] for e in r.json()["errors"]] == ["#/reporting_currency"]
