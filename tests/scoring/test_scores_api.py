"""One customer's scores: grouping, the composite explanation, CLV horizons, product lines as of the score
date, merged ids, change history pages, 404s and the scope."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from crm_scoring.formulas.engine import score
from crm_scoring.main import create_app
from crm_shared.testing import app_client, user_headers

from .helpers import (
    AS_OF,
    insert_calibration,
    insert_known,
    insert_purchase,
    insert_score,
    insert_score_change,
    insert_stage_change,
)

URL = "/api/v1/scores/customers"


async def _formula(db, version=1):
    return json.loads(await db.fetchval("SELECT formula FROM formula_versions WHERE version = $1", version))


async def test_scores_grouped_with_explanation_and_horizons(reader, db):
    customer = uuid.uuid4()
    await insert_known(
        db,
        customer,
        payment_terms="cash",
        brand_contribution="senior_position",
        declared_budget="5000.00",
        share_of_wallet="0.4000",
    )
    row = {"total_spend": 1250.0, "monthly_frequency": 1.5, "monthly_avg_spend": 210.0, "tenure_months": 14.0}
    inputs = {k: np.array([v]) for k, v in row.items()}
    inputs |= {
        "payment_terms": np.array(["cash"], dtype=object),
        "brand_contribution": np.array(["senior_position"], dtype=object),
        "declared_budget": np.array([5000.0]),
        "share_of_wallet": np.array([0.4]),
    }
    total, _ = score(await _formula(db), inputs)
    composite = Decimal(f"{total[0]:.2f}")
    calibration = await insert_calibration(db, horizons=(90, 365))
    await insert_score(
        db,
        customer,
        total_spend="1250.00",
        monthly_frequency=1.5,
        monthly_avg_spend="210.00",
        tenure_months=14.0,
        composite_score=composite,
        formula_version=1,
        r=5,
        f=4,
        m=5,
        rfm_segment="champions",
        abc_class="A",
        gold=True,
        p_alive=0.93,
        churn_risk=0.07,
        expected_purchases=[1.5, 4.25],
        expected_spend="900.00",
        clv="812.40",
        calibration_id=calibration,
        stage="growth",
        stage_reason="spend up 40% on the previous window",
        stage_since=datetime(2026, 9, 15, tzinfo=UTC),
    )

    r = await reader.get(f"{URL}/{customer}")
    assert r.status_code == 200, r.text
    assert "content-location" not in r.headers
    body = r.json()
    assert body["customer_id"] == str(customer)
    assert body["as_of"] == "2026-11-01T00:00:00Z"
    summary = body["summary"]
    assert summary["total_spend"] == "1250.00"
    assert summary["avg_spend"] == "100.00"
    assert summary["spend_12m"] == "300.00"
    assert summary["monthly_avg_spend"] == "210.00"
    assert summary["monthly_frequency"] == 1.5
    assert summary["tenure_months"] == 14.0
    assert summary["order_count"] == 6
    assert summary["purchase_days"] == 5
    assert summary["recency_days"] == 31
    assert summary["first_purchase_at"] == "2025-01-10T00:00:00Z"
    assert summary["product_lines"] == []
    assert body["rfm"] == {"r": 5, "f": 4, "m": 5, "segment": "champions", "frequency_basis": "purchase_days"}
    assert body["abc"] == {"class": "A", "gold": True, "drag": False}
    assert body["clv"] == {
        "p_alive": 0.93,
        "churn_risk": 0.07,
        "churn_signal": "mbgnbd.p_no_purchase",  # a calibration without a choice: the fallback
        "churn_horizon_days": None,
        "purchase_model": "mbgnbd",
        "expected_purchases": {"90": 1.5, "365": 4.25},
        "expected_spend": "900.00",
        "clv": "812.40",
        "calibration_id": calibration,
    }
    assert body["lifecycle"] == {
        "stage": "growth",
        "reason": "spend up 40% on the previous window",
        "since": "2026-09-15T00:00:00Z",
    }

    comp = body["composite"]
    assert comp["score"] == str(composite)
    assert comp["formula_version"] == 1
    terms = {t["term"]: t for t in comp["explanation"]["terms"]}
    assert list(terms) == list((await _formula(db))["terms"])
    assert sum(Decimal(t["points"]) for t in terms.values()) == composite
    assert Decimal(comp["explanation"]["total"]) == composite
    assert terms["credit"]["value"] == "cash"
    assert terms["credit"]["points"] == "12.00"
    assert terms["spend"]["points"] == "12.50"  # 1250 * 0.01
    assert terms["growth_potential"]["value"] == 3000.0  # 5000 * (1 - 0.4)
    assert terms["brand_contribution"]["points"] == "5.00"


async def test_before_calibration_clv_is_null_and_no_formula_no_explanation(reader, db):
    customer = await insert_score(db, formula_version=None, calibration_id=None)
    body = (await reader.get(f"{URL}/{customer}")).json()
    assert body["clv"] is None
    assert body["composite"] == {"score": "20.00", "formula_version": None, "explanation": None}
    assert body["abc"]["class"] == "B"


async def test_unknown_inputs_score_zero_in_the_explanation(reader, db):
    """No known_customers row: categorical terms and growth potential are unknown (0 points, value null)."""
    customer = await insert_score(
        db,
        composite_score="0.00",
        total_spend="0.00",
        monthly_frequency=None,
        monthly_avg_spend=None,
        tenure_months=None,
    )
    terms = (await reader.get(f"{URL}/{customer}")).json()["composite"]["explanation"]["terms"]
    assert all(t["points"] == "0.00" for t in terms)
    assert {t["term"]: t["value"] for t in terms}["credit"] is None


async def test_product_lines_respect_as_of_and_cancellation(reader, db):
    customer = await insert_score(db)  # as_of = AS_OF
    day = timedelta(days=1)
    await insert_purchase(db, customer, AS_OF - 30 * day, product_lines=["tea", "coffee"])
    await insert_purchase(db, customer, AS_OF - 20 * day, product_lines=["tea"])
    await insert_purchase(db, customer, AS_OF, product_lines=["filters"])  # on the as-of instant: counts
    await insert_purchase(db, customer, AS_OF + day, product_lines=["cups"])  # after as_of
    await insert_purchase(db, customer, AS_OF - 10 * day, product_lines=["mugs"], cancelled_at=AS_OF - 5 * day)
    await insert_purchase(db, customer, AS_OF - 10 * day, product_lines=["kettle"], cancelled_at=AS_OF + day)
    await insert_purchase(db, uuid.uuid4(), AS_OF - 10 * day, product_lines=["books"])  # someone else's
    body = (await reader.get(f"{URL}/{customer}")).json()
    assert body["summary"]["product_lines"] == ["coffee", "filters", "kettle", "tea"]


async def test_merged_id_answers_with_the_survivor(reader, db):
    survivor, merged = uuid.uuid4(), uuid.uuid4()
    await insert_known(db, survivor)
    await insert_known(db, merged, merged_into=survivor)
    await insert_score(db, survivor, composite_score="42.00")
    change = await insert_score_change(db, survivor, AS_OF)
    await insert_score_change(db, merged, AS_OF - timedelta(days=30))  # before the merge: not the survivor's
    await insert_stage_change(db, survivor, AS_OF)

    r = await reader.get(f"{URL}/{merged}")
    assert r.status_code == 200, r.text
    assert r.json()["customer_id"] == str(survivor)
    assert r.json()["composite"]["score"] == "42.00"
    assert r.headers["content-location"] == f"{URL}/{survivor}"

    r = await reader.get(f"{URL}/{merged}/history")
    assert [i["id"] for i in r.json()["items"]] == [change]
    assert r.headers["content-location"] == f"{URL}/{survivor}/history"
    r = await reader.get(f"{URL}/{merged}/stages")
    assert len(r.json()["items"]) == 1
    assert r.headers["content-location"] == f"{URL}/{survivor}/stages"


async def test_unknown_customer_is_404(reader, db):
    missing = uuid.uuid4()
    for path in (f"{URL}/{missing}", f"{URL}/{missing}/history", f"{URL}/{missing}/stages"):
        r = await reader.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"] == "application/problem+json"
        assert str(missing) in r.json()["detail"]
    # Known but never scored: no scores yet (its history is simply empty).
    known = await insert_known(db, uuid.uuid4())
    assert (await reader.get(f"{URL}/{known}")).status_code == 404
    r = await reader.get(f"{URL}/{known}/history")
    assert r.status_code == 200
    assert r.json() == {"items": [], "next_cursor": None}


async def _pages(client, path, limit):
    ids, cursor = [], None
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        r = await client.get(path, params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= limit
        ids += [i["id"] for i in page["items"]]
        if not (cursor := page["next_cursor"]):
            return ids


async def test_history_newest_first_across_pages(reader, db):
    customer = await insert_score(db)
    other = await insert_score(db)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    ids = []
    for n, day in enumerate((3, 1, 7, 7, 5)):  # two changes at the same instant: the later id first
        ids.append(await insert_score_change(db, customer, base + timedelta(days=day), composite_score=str(10 + n)))
    await insert_score_change(db, other, base)
    expected = [ids[3], ids[2], ids[4], ids[0], ids[1]]
    for limit in (1, 2, 3, 5, 10):
        assert await _pages(reader, f"{URL}/{customer}/history", limit) == expected

    first = (await reader.get(f"{URL}/{customer}/history", params={"limit": 1})).json()["items"][0]
    assert first["at"] == "2026-01-08T00:00:00Z"
    assert first["composite_score"] == "13.00"
    assert first["changed"] == ["composite_score"]
    assert first["cause"] == "event"


async def test_stage_changes_newest_first_across_pages(reader, db):
    customer = await insert_score(db)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    first = await insert_stage_change(db, customer, base, from_stage=None, to_stage="introduction")
    second = await insert_stage_change(db, customer, base + timedelta(days=40))
    third = await insert_stage_change(db, customer, base + timedelta(days=90), from_stage="growth", to_stage="maturity")
    for limit in (1, 2, 3):
        assert await _pages(reader, f"{URL}/{customer}/stages", limit) == [third, second, first]
    items = (await reader.get(f"{URL}/{customer}/stages")).json()["items"]
    assert items[-1]["from_stage"] is None
    assert items[0]["to_stage"] == "maturity"
    assert items[0]["reason"] == "third purchase day"


async def test_history_cursor_is_bound_to_the_customer(reader, db):
    a, b = await insert_score(db), await insert_score(db)
    for day in range(3):
        await insert_score_change(db, a, AS_OF + timedelta(days=day))
    cursor = (await reader.get(f"{URL}/{a}/history", params={"limit": 1})).json()["next_cursor"]
    r = await reader.get(f"{URL}/{b}/history", params={"cursor": cursor})
    assert r.status_code == 400
    assert r.json()["errors"][0]["parameter"] == "cursor"


@pytest.mark.parametrize(
    "path",
    [
        f"{URL}/{uuid.UUID(int=1)}",
        f"{URL}/{uuid.UUID(int=1)}/history",
        f"{URL}/{uuid.UUID(int=1)}/stages",
        URL,
        f"{URL}/count",
        "/api/v1/scores/distributions/lifecycle",
        "/api/v1/scores/distributions/abc",
        "/api/v1/scores/distributions/rfm",
        "/api/v1/scores/distributions/clv",
    ],
)
async def test_reads_need_the_scores_read_scope(settings, db, path):
    await insert_score(db, uuid.UUID(int=1))
    headers = user_headers("agent-1", "customers:read", service="scoring")
    async with app_client(create_app(settings), headers=headers) as client:
        r = await client.get(path)
    assert r.status_code == 403
    assert "scores:read" in r.json()["detail"]
