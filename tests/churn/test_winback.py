"""The win-back workflow on real PostgreSQL: a case per churn record (eligibility rules as data), the state
machine (409 naming the state and the allowed actions, nothing changed), senior owners, the offer guard
and confidential offers, won within the window / lost when it passes (lazily on read, recorded by the
sweep), the assessment report and the strategy recommendation from similar cases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from crm_churn.main import create_app
from crm_churn.winback import eligibility
from crm_churn.winback.schemas import SimilarOutcome, WinbackRules
from crm_shared.testing import app_client, eventually, user_headers
from tests.churn.conftest import ADMIN_SCOPES
from tests.churn.events import deliver, idem, lifecycle_changed, order_created, published, score_changed

WINBACK = "/api/v1/churn/winback"
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


@pytest.fixture
async def manager(settings: Any) -> Any:
    """A caller who may also see and make offers (offers:read)."""
    headers = user_headers("manager-1", *ADMIN_SCOPES, "offers:read", service="churn")
    async with app_client(create_app(settings), headers=headers) as c:
        yield c


async def churned(
    api: httpx.AsyncClient, *reasons: str, clv: str | None = "5000.00", abc: str = "A"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A customer scored at `clv`, declared churned with `reasons`: its record and its case."""
    customer = uuid.uuid4()
    await deliver(api, score_changed(customer, datetime.now(UTC), clv=clv, abc_class=abc))
    r = await api.post(
        "/api/v1/churn/records", json={"customer_id": str(customer), "reasons": list(reasons)}, headers=idem()
    )
    assert r.status_code == 201, r.text
    cases = await api.get(f"{WINBACK}/cases", params={"customer_id": str(customer)})
    [case] = cases.json()["items"]
    return r.json(), (await api.get(f"{WINBACK}/cases/{case['id']}")).json()


async def post(
    api: httpx.AsyncClient, case: dict[str, Any], action: str, body: Any = None, **headers: str
) -> httpx.Response:
    return await api.post(f"{WINBACK}/cases/{case['id']}/{action}", json=body or {}, headers={**idem(), **headers})


async def record_status(api: httpx.AsyncClient, record: dict[str, Any]) -> str:
    return (await api.get(f"/api/v1/churn/records/{record['id']}")).json()["status"]


async def put_rules(api: httpx.AsyncClient, **changes: Any) -> None:
    read = await api.get(f"{WINBACK}/rules")
    body = {**read.json()["settings"], **changes}
    r = await api.put(f"{WINBACK}/rules", json=body, headers={**idem(), "If-Match": read.headers["ETag"]})
    assert r.status_code == 200, r.text


async def test_analysis_opens_a_case_per_churned_customer_by_the_rules(
    api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    record, case = await churned(api, "attracted", "price")
    assert case["status"] == "analysis"
    assert case["phase"] == "analysis"
    assert case["primary_reason"] == "attracted"
    assert case["strategy"] == "tailored_offer"
    assert Decimal(case["expected_value"]) == Decimal("5000.00")
    assert case["requires_senior"] is True
    assert case["allowed_actions"] == ["assign", "exclude", "reassess", "close"]
    assert await record_status(api, record) == "in_winback"
    [opened] = await published(db, "winback.opened")
    assert opened["data"]["case_id"] == case["id"]
    assert opened["data"]["strategy"] == "tailored_offer"

    record, forced = await churned(api, "forced", "attracted")
    assert forced["status"] == "excluded"
    assert forced["exclusion_rule"] == "reason"
    assert "forced" in forced["exclusion"]
    assert await record_status(api, record) == "churned"
    _, cheap = await churned(api, "left_dissatisfied", clv="100.00")
    assert cheap["exclusion_rule"] == "min_value"
    assert cheap["exclusion"] == "expected value 100.00 is below the threshold 500.00"
    _, unclassified = await churned(api)
    assert unclassified["status"] == "analysis"
    assert unclassified["primary_reason"] is None
    assert unclassified["strategy"] == "personal_conversation"
    assert len(await published(db, "winback.opened")) == 2  # excluded cases publish nothing

    await put_rules(api, unclassified="exclude")
    _, now_excluded = await churned(api)
    assert now_excluded["exclusion_rule"] == "unclassified"


def test_eligibility_and_recommendation_by_hand() -> None:
    rules = WinbackRules(min_similar_cases=3)
    assert eligibility.evaluate(["bought_off"], Decimal("9999"), rules).rule == "reason"
    assert (
        eligibility.evaluate(["other", "attracted"], Decimal("500"), rules).primary_reason == "left_dissatisfied"
        or True
    )
    assert eligibility.evaluate(["other", "attracted"], Decimal("500"), rules).primary_reason == "attracted"
    assert eligibility.evaluate(["attracted"], Decimal("499.99"), rules).rule == "min_value"
    # No CLV: a year's profit, 12,000 x 10% = 1,200.
    assert eligibility.expected_value(None, Decimal("12000"), Decimal("0.10")) == Decimal("1200.00")
    # Attracted defaults to a tailored offer; 4 of 5 won by conversation (80%) beats 1 of 4 by offer (25%).
    similar = [
        SimilarOutcome(strategy="personal_conversation", closed=5, won=4, success_rate=0.8),
        SimilarOutcome(strategy="tailored_offer", closed=4, won=1, success_rate=0.25),
    ]
    assert eligibility.recommend("attracted", similar, rules)[0] == "personal_conversation"
    # Under min_similar_cases (3) a strategy's rate does not count: 2 of 2 is not proof.
    few = [SimilarOutcome(strategy="bulk_outreach", closed=2, won=2, success_rate=1.0)]
    assert eligibility.recommend("attracted", few, rules)[0] == "tailored_offer"


async def test_invalid_transitions_answer_409_and_change_nothing(
    api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    record, case = await churned(api, "left_dissatisfied", clv="1000.00")
    refused = await post(api, case, "actions", {"kind": "personal_conversation"})
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["state"] == "analysis"
    assert problem["allowed_actions"] == ["assign", "exclude", "reassess", "close"]
    assert (await api.get(f"{WINBACK}/cases/{case['id']}")).json()["version"] == case["version"]
    assert await db.fetchval("SELECT count(*) FROM winback_actions") == 0

    assigned = await post(api, case, "assign", {"owner": "agent-7"}, **{"If-Match": f'"{case["version"]}"'})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["status"] == "implementation"
    assert assigned.json()["owner"] == "agent-7"
    stale = await post(api, case, "actions", {"kind": "personal_conversation"}, **{"If-Match": f'"{case["version"]}"'})
    assert stale.status_code == 412
    talk = await post(api, case, "actions", {"kind": "personal_conversation", "note": "called", "cost": "25.00"})
    assert talk.status_code == 200
    assert Decimal(talk.json()["actions"][-1]["cost"]) == Decimal("25.00")
    assert talk.json()["cost"] is None  # the case's total would show its offers: masked without offers:read
    assert (await post(api, case, "exclude", {"reason": "no"})).json()["allowed_actions"] == [
        "assign",
        "act",
        "offer",
        "close",
    ]
    bad = await post(api, case, "actions", {"kind": "personal_conversation", "cost": "-1"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "#/cost"

    closed = await post(api, case, "close", {"note": "not interested"})
    assert closed.json()["status"] == "lost"
    assert closed.json()["phase"] == "assessment"
    assert await record_status(api, record) == "lost"
    [lost] = await published(db, "winback.lost")
    assert lost["data"]["outcome"] == "lost"
    assert Decimal(lost["data"]["cost"]) == Decimal("25.00")
    after = await post(api, case, "assign", {"owner": "agent-8"})
    assert after.status_code == 409
    assert after.json()["allowed_actions"] == []


async def test_exclude_include_and_reassess(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    record, case = await churned(api, "other", clv="800.00")
    excluded = await post(api, case, "exclude", {"reason": "moved abroad, after all"})
    assert excluded.json()["status"] == "excluded"
    assert excluded.json()["exclusion_rule"] == "manual"
    assert await record_status(api, record) == "churned"
    included = await post(api, case, "include", {"note": "the owner insists"})
    assert included.json()["status"] == "analysis"
    assert await record_status(api, record) == "in_winback"
    assert len(await published(db, "winback.opened")) == 2
    # The agent reclassifies the record as forced: reassessing excludes it by the rules.
    version = (await api.get(f"/api/v1/churn/records/{record['id']}")).json()["version"]
    r = await api.patch(
        f"/api/v1/churn/records/{record['id']}",
        json={"reasons": ["forced"]},
        headers={**idem(), "If-Match": f'"{version}"'},
    )
    assert r.status_code == 200, r.text
    reassessed = await post(api, case, "reassess")
    assert reassessed.json()["status"] == "excluded"
    assert reassessed.json()["exclusion_rule"] == "reason"
    kinds = [a["kind"] for a in reassessed.json()["actions"]]
    assert kinds == ["excluded", "included", "reassessed"]


async def test_high_value_cases_need_a_senior_owner(api: httpx.AsyncClient) -> None:
    _, case = await churned(api, "attracted", clv="10000.00")
    refused = await post(api, case, "assign", {"owner": "junior-1"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "#/owner"
    assert (await api.get(f"{WINBACK}/cases/{case['id']}")).json()["status"] == "analysis"
    await put_rules(api, senior_owners=["senior-1"])
    assert (await post(api, case, "assign", {"owner": "senior-1"})).status_code == 200


async def test_the_offer_guard_and_confidential_offers(
    api: httpx.AsyncClient, manager: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    _, case = await churned(manager, "attracted", clv="2000.00")  # at most 20% of 2,000 = 400 in offers
    assert (await post(manager, case, "assign", {"owner": "agent-1"})).status_code == 200
    too_much = await post(manager, case, "offers", {"value": "400.01"})
    assert too_much.status_code == 422
    problem = too_much.json()
    assert problem["maximum"] == "400.00"
    assert problem["expected_value"] == "2000.00"
    assert problem["max_share"] == "0.2"
    assert problem["errors"] == [{"detail": "at most 400.00", "pointer": "#/value"}]
    assert await db.fetchval("SELECT count(*) FROM winback_actions WHERE kind = 'tailored_offer'") == 0
    assert (await post(manager, case, "offers", {"value": "300.00", "note": "15% off"})).status_code == 200
    second = await post(manager, case, "offers", {"value": "150.00"})
    assert second.status_code == 422
    assert "at most 100.00 more" in second.json()["detail"]
    # Without offers:read: no offers made, and the offer and the case's cost read masked.
    assert (await post(api, case, "offers", {"value": "10.00"})).status_code == 403
    seen = (await api.get(f"{WINBACK}/cases/{case['id']}")).json()
    [offer] = [a for a in seen["actions"] if a["kind"] == "tailored_offer"]
    assert offer["masked"] is True
    assert offer["offer_value"] is None
    assert offer["cost"] is None
    assert seen["cost"] is None
    full = (await manager.get(f"{WINBACK}/cases/{case['id']}")).json()
    [offer] = [a for a in full["actions"] if a["kind"] == "tailored_offer"]
    assert Decimal(offer["offer_value"]) == Decimal("300.00")
    assert Decimal(full["cost"]) == Decimal("300.00")


async def test_an_order_within_the_window_wins_the_case(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    record, case = await churned(api, "attracted", clv="3000.00")
    await deliver(api, order_created(uuid.UUID(case["customer_id"]), datetime.now(UTC), "120.00"))
    won = (await api.get(f"{WINBACK}/cases/{case['id']}")).json()
    assert won["status"] == "won"
    assert won["phase"] == "assessment"
    assert Decimal(won["benefit"]) == Decimal("3000.00")
    [event] = await published(db, "winback.won")
    assert event["data"]["order_id"] == won["order_id"]
    assert await record_status(api, record) == "won_back"


async def test_a_passed_window_reads_lost_at_once_and_the_sweep_records_it(
    api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    record, case = await churned(api, "attracted", clv="3000.00")
    _, recent = await churned(api, "attracted", clv="3000.00")
    ended = datetime.now(UTC) - timedelta(days=2)
    await db.execute("UPDATE winback_cases SET window_ends_at = $1 WHERE id = $2", ended, uuid.UUID(case["id"]))
    await db.execute(
        "UPDATE winback_cases SET window_ends_at = $1 WHERE id = $2",
        datetime.now(UTC) - timedelta(hours=1),
        uuid.UUID(recent["id"]),
    )
    lazily = (await api.get(f"{WINBACK}/cases/{case['id']}")).json()
    assert lazily["status"] == "lost"
    assert lazily["settled"] is False
    assert lazily["allowed_actions"] == []
    refused = await post(api, case, "assign", {"owner": "agent-1"})
    assert refused.status_code == 409
    assert refused.json()["state"] == "lost"
    listed = await api.get(f"{WINBACK}/cases", params={"status": "lost"})
    assert {c["id"] for c in listed.json()["items"]} == {case["id"], recent["id"]}

    swept = await api.post(f"{WINBACK}/sweep", headers=idem())
    assert swept.json() == {"lost": 1}  # the one that ended an hour ago is left for orders still in flight
    settled = (await api.get(f"{WINBACK}/cases/{case['id']}")).json()
    assert settled["settled"] is True
    assert settled["closed_at"].startswith(ended.date().isoformat())
    assert await record_status(api, record) == "lost"
    assert [e["data"]["case_id"] for e in await published(db, "winback.lost")] == [case["id"]]
    # An order placed after the window (delivered before the sweep) does not win it: lost at the window's end.
    await deliver(api, order_created(uuid.UUID(recent["customer_id"]), datetime.now(UTC), "50.00"))
    late = (await api.get(f"{WINBACK}/cases/{recent['id']}")).json()
    assert late["status"] == "lost"
    assert late["settled"] is True
    assert late["order_id"] is None


async def test_the_assessment_report_and_similar_cases(manager: httpx.AsyncClient) -> None:
    await put_rules(manager, min_similar_cases=1, senior_value_threshold="1000000")
    # Two attracted A customers: one won by a conversation (benefit 3,000, cost 100), one lost after an
    # offer of 200 (benefit 0); one left-dissatisfied customer lost after a conversation costing 50.
    _, won = await churned(manager, "attracted", clv="3000.00")
    await post(manager, won, "assign", {"owner": "ann", "strategy": "personal_conversation"})
    await post(manager, won, "actions", {"kind": "personal_conversation", "cost": "100.00"})
    await deliver(manager, order_created(uuid.UUID(won["customer_id"]), datetime.now(UTC), "80.00"))
    _, lost = await churned(manager, "attracted", clv="2000.00")
    await post(manager, lost, "assign", {"owner": "bob", "strategy": "tailored_offer"})
    assert (await post(manager, lost, "offers", {"value": "200.00"})).status_code == 200
    await post(manager, lost, "close")
    _, sad = await churned(manager, "left_dissatisfied", clv="900.00")
    await post(manager, sad, "assign", {"owner": "ann"})
    await post(manager, sad, "actions", {"kind": "personal_conversation", "cost": "50.00"})
    await post(manager, sad, "close")

    by_owner = (await manager.get(f"{WINBACK}/report", params={"by": "owner"})).json()
    rows = {r["key"]: r for r in by_owner["rows"]}
    assert rows["ann"]["closed"] == 2
    assert rows["ann"]["won"] == 1
    assert rows["ann"]["success_rate"] == 0.5
    assert Decimal(rows["ann"]["benefit"]) == Decimal("3000.00")
    assert Decimal(rows["ann"]["cost"]) == Decimal("150.00")
    assert rows["ann"]["benefit_cost_ratio"] == pytest.approx(20.0)  # 3,000 / 150
    assert rows["bob"]["won"] == 0
    assert rows["bob"]["benefit_cost_ratio"] == 0.0
    total = by_owner["total"]
    assert (total["closed"], total["won"], total["lost"]) == (3, 1, 2)
    assert total["benefit_cost_ratio"] == pytest.approx(3000 / 350)
    by_reason = {r["key"]: r for r in (await manager.get(f"{WINBACK}/report", params={"by": "reason"})).json()["rows"]}
    assert by_reason["attracted"]["closed"] == 2
    assert by_reason["left_dissatisfied"]["won"] == 0
    month = (await manager.get(f"{WINBACK}/report", params={"by": "month"})).json()["rows"]
    assert [r["key"] for r in month] == [datetime.now(UTC).strftime("%Y-%m-01")]
    assert month[0]["closed"] == 3
    bad = await manager.get(f"{WINBACK}/report", params={"from": "2026-12-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"})
    assert bad.status_code == 422

    # The next attracted A customer: the conversation won 1 of 1, the offer 0 of 1, so it is recommended.
    _, nxt = await churned(manager, "attracted", clv="2500.00")
    assert nxt["strategy"] == "personal_conversation"
    similar = {s["strategy"]: s for s in nxt["recommendation"]["similar"]}
    assert similar["personal_conversation"] == {
        "strategy": "personal_conversation",
        "closed": 1,
        "won": 1,
        "success_rate": 1.0,
    }
    assert similar["tailored_offer"]["success_rate"] == 0.0
    assert "won back 1 of 1 similar cases" in nxt["recommendation"]["basis"]


async def test_rules_are_data_with_if_match(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    url = f"{WINBACK}/rules"
    read = await api.get(url)
    assert read.headers["ETag"] == '"0"'
    assert read.json()["settings"]["offer_max_share"] == "0.2"
    body = read.json()["settings"]
    assert (await api.put(url, json=body, headers=idem())).status_code == 428
    overlap = await api.put(
        url, json={**body, "excluded_reasons": ["attracted"]}, headers={**idem(), "If-Match": '"0"'}
    )
    assert overlap.status_code == 422
    assert "both pursued and excluded" in overlap.text
    share = await api.put(url, json={**body, "offer_max_share": "1.5"}, headers={**idem(), "If-Match": '"0"'})
    assert share.status_code == 422
    assert share.json()["errors"][0]["pointer"] == "#/offer_max_share"
    assert await db.fetchval("SELECT count(*) FROM settings_documents") == 0
    ok = await api.put(url, json={**body, "offer_max_share": "0.1"}, headers={**idem(), "If-Match": '"0"'})
    assert ok.status_code == 200
    assert ok.json()["settings"]["offer_max_share"] == "0.1"
    assert (await api.put(url, json=body, headers={**idem(), "If-Match": '"0"'})).status_code == 412


async def test_the_app_sweeps_passed_windows_by_itself(settings: Any, db: asyncpg.Connection) -> None:
    """The sweep runs in the app's lifespan (every `winback_sweep_seconds`): no request needed."""
    quick = settings.model_copy(update={"winback_sweep_seconds": 0.2})
    async with app_client(create_app(quick), headers=user_headers("a-1", *ADMIN_SCOPES, service="churn")) as api:
        await put_rules(api, settle_after_hours=0)
        record, case = await churned(api, "attracted", clv="3000.00")
        await db.execute(
            "UPDATE winback_cases SET window_ends_at = now() - interval '1 minute' WHERE id = $1", uuid.UUID(case["id"])
        )

        async def settled() -> bool:
            return bool((await api.get(f"{WINBACK}/cases/{case['id']}")).json()["settled"])

        await eventually(settled, within=10)
        assert await record_status(api, record) == "lost"
        assert len(await published(db, "winback.lost")) == 1


async def test_inferred_churn_opens_a_case_too(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """scoring's lifecycle.changed to churned infers the record; the analysis runs on it like on a declared one."""
    customer = uuid.uuid4()
    now = datetime.now(UTC)
    await deliver(api, score_changed(customer, now, clv="4000.00", abc_class="A"))
    await deliver(api, lifecycle_changed(customer, now, "churned", "decline"))
    [case] = (await api.get(f"{WINBACK}/cases", params={"customer_id": str(customer)})).json()["items"]
    assert case["status"] == "analysis"
    assert case["primary_reason"] is None  # no reason yet: pursued, classified during the analysis
    assert [e["data"]["customer_id"] for e in await published(db, "winback.opened")] == [str(customer)]
