"""Attribution and uplift on real PostgreSQL: orders by members of every group within the window count,
others do not; the uplift and its 95% interval, incremental revenue, cost and ROI match a hand
computation; a split that departs from the configured share raises the sample-ratio warning."""

import math
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import httpx
import msgspec

from crm_campaign.results.uplift import sample_ratio, uplift_interval
from crm_shared.schemas.campaigns import ConversionAttributedData
from tests.campaign.support import (
    EVERYONE,
    add_audience,
    deliver,
    idem,
    new_campaign,
    new_segment,
    order_created,
    outbox_events,
)


def test_interval_matches_a_hand_computation() -> None:
    # 120/1000 vs 80/1000: diff 0.04; se = sqrt(.12*.88/1000 + .08*.92/1000) = sqrt(0.0001792) = 0.0133866;
    # 1.959964 * se = 0.0262372 -> [0.0137628, 0.0662372]
    i = uplift_interval(120, 1000, 80, 1000)
    assert i is not None
    assert math.isclose(i.estimate, 0.04)
    assert math.isclose(i.standard_error, 0.0133866, rel_tol=1e-5)
    assert math.isclose(i.low, 0.0137628, rel_tol=1e-5)
    assert math.isclose(i.high, 0.0662372, rel_tol=1e-5)
    assert i.significant
    assert uplift_interval(5, 0, 1, 10) is None
    # chi-square of 950/50 against 90/10: (950-900)^2/900 + (50-100)^2/100 = 2.777.. + 25 = 27.78, p ~ 1.4e-7
    srm = sample_ratio(950, 50, 0.1)
    assert math.isclose(srm.chi_square or 0, 27.7778, rel_tol=1e-4)
    assert srm.mismatch
    assert not sample_ratio(905, 95, 0.1).mismatch


async def test_uplift_revenue_cost_and_roi_match_a_hand_computation(
    api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await add_audience(db, [{} for _ in range(400)])
    campaign = await new_campaign(
        api, await new_segment(api, EVERYONE), control_share="0.5", cost_per_contact="0.50", attribution_days=14
    )
    cid = uuid.UUID(campaign["id"])
    r = await api.post(f"/api/v1/campaigns/{cid}/launch", headers=idem())
    launched_at = datetime.fromisoformat(r.json()["launched_at"])
    members = await db.fetch(
        "SELECT customer_id, grp FROM campaign_members WHERE campaign_id = $1 ORDER BY customer_id", cid
    )
    treatment = [m["customer_id"] for m in members if m["grp"] == "treatment"]
    control = [m["customer_id"] for m in members if m["grp"] == "control"]
    n_t, n_c = len(treatment), len(control)
    # J's workers mark sends; here every treatment recipient was sent
    await db.execute("UPDATE campaign_recipients SET status = 'sent' WHERE campaign_id = $1", cid)
    day = timedelta(days=1)
    events = [order_created(c, launched_at + day, "40.00") for c in treatment[:50]]
    events += [order_created(c, launched_at + 2 * day, "10.00") for c in treatment[:10]]  # repeat buyers
    events += [order_created(c, launched_at + day, "40.00") for c in control[:25]]
    ignored = [
        order_created(treatment[60], launched_at - day, "99.00"),  # before the launch
        order_created(treatment[61], launched_at + 15 * day, "99.00"),  # after the window
        order_created(uuid.uuid4(), launched_at + day, "99.00"),  # not a member
    ]
    await deliver(api, *events, *ignored)
    await deliver(api, *events[:5])  # a redelivery changes nothing
    body = (await api.get(f"/api/v1/campaigns/{cid}/results")).json()
    groups = {g["group"]: g for g in body["groups"]}
    assert groups["treatment"]["members"] == n_t
    assert groups["treatment"]["converters"] == 50
    assert groups["treatment"]["orders"] == 60
    assert Decimal(groups["treatment"]["revenue"]) == Decimal("2100.00")
    assert groups["control"]["converters"] == 25
    assert Decimal(groups["control"]["revenue"]) == Decimal("1000.00")
    p_t, p_c = 50 / n_t, 25 / n_c
    se = math.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
    uplift = body["uplift"]
    assert math.isclose(uplift["absolute"], p_t - p_c)
    assert math.isclose(uplift["ci_low"], p_t - p_c - 1.959964 * se, rel_tol=1e-5)
    assert math.isclose(uplift["ci_high"], p_t - p_c + 1.959964 * se, rel_tol=1e-5)
    incremental = (Decimal(2100) / n_t - Decimal(1000) / n_c) * n_t
    assert Decimal(body["incremental_revenue"]) == incremental.quantize(Decimal("0.01"))
    cost = Decimal("0.50") * n_t
    assert body["contacts"] == n_t
    assert Decimal(body["cost"]) == cost
    assert math.isclose(body["roi"], float((incremental.quantize(Decimal("0.01")) - cost) / cost))
    assert body["sample_ratio"]["mismatch"] is False
    assert body["sample_ratio"]["warning"] is None
    assert body["daily"][-1]["treatment"] == p_t
    assert body["daily"][-1]["control"] == p_c
    published = await outbox_events(db, "conversion.attributed")
    assert all(set(e["data"]) == set(ConversionAttributedData.__struct_fields__) for e in published)
    attributed = [msgspec.convert(e["data"], ConversionAttributedData) for e in published]
    assert len(attributed) == 85
    assert {a.group for a in attributed} == {"treatment", "control"}


async def test_a_split_far_from_the_configured_share_warns(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    await add_audience(db, [{} for _ in range(300)])
    campaign = await new_campaign(api, await new_segment(api, EVERYONE), control_share="0.5")
    cid = uuid.UUID(campaign["id"])
    await api.post(f"/api/v1/campaigns/{cid}/launch", headers=idem())
    # a broken pipeline loses most of the control group
    await db.execute(
        "DELETE FROM campaign_members WHERE campaign_id = $1 AND grp = 'control' AND customer_id IN "
        "(SELECT customer_id FROM campaign_members WHERE campaign_id = $1 AND grp = 'control' LIMIT 100)",
        cid,
    )
    srm = (await api.get(f"/api/v1/campaigns/{cid}/results")).json()["sample_ratio"]
    assert srm["mismatch"] is True
    assert "sample ratio mismatch" in srm["warning"]
    assert srm["expected_control_share"] == 0.5
    assert srm["observed_control_share"] < 0.4


async def test_programme_lift_against_the_global_holdout(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    ids = await add_audience(db, [{} for _ in range(200)])
    now = datetime.now(UTC)
    holdout = {
        "name": "h",
        "share": "0.3",
        "starts_at": (now - timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=1)).isoformat(),
    }
    assert (await api.post("/api/v1/campaigns/holdouts", json=holdout, headers=idem())).status_code == 201
    campaign = await new_campaign(api, await new_segment(api, EVERYONE), control_share="0")
    cid = uuid.UUID(campaign["id"])
    await api.post(f"/api/v1/campaigns/{cid}/launch", headers=idem())
    await deliver(api, *[order_created(c, now + timedelta(hours=1), "5.00") for c in ids])
    body = (await api.get(f"/api/v1/campaigns/{cid}/results")).json()
    assert body["uplift"] is None  # no campaign control group
    assert body["programme_uplift"]["versus"] == "global_control"
    assert body["programme_uplift"]["absolute"] == 0.0
    assert (await api.get(f"/api/v1/campaigns/{uuid.uuid4()}/results")).status_code == 404
