"""A customer merge folds win-back cases as it folds churn records: the folded record's case closes as
`merged` and joins the survivor's case (actions, cost and owner move there; an excluded-by-rules survivor
case is evaluated again with the combined reasons); the survivor's case is then won by the next order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest

from crm_shared.schemas.events import EVENT_TYPES
from tests.churn.events import deliver, idem, merged, order_created, published, score_changed
from tests.churn.test_winback import WINBACK, post, put_rules, record_status
from tests.customer.test_event_contracts import _undeclared

pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")
NOW = datetime.now(UTC)


async def declared(api: httpx.AsyncClient, customer: uuid.UUID, *reasons: str, days_ago: int) -> dict[str, Any]:
    """A scored customer declared churned `days_ago`; its record and case."""
    await deliver(api, score_changed(customer, NOW - timedelta(days=days_ago + 1), clv="1000.00", abc_class="B"))
    body = {
        "customer_id": str(customer),
        "reasons": list(reasons),
        "detected_at": (NOW - timedelta(days=days_ago)).isoformat(),
    }
    r = await api.post("/api/v1/churn/records", json=body, headers=idem())
    assert r.status_code == 201, r.text
    [case] = (await api.get(f"{WINBACK}/cases", params={"customer_id": str(customer)})).json()["items"]
    return {"record": r.json(), "case": case}


async def test_the_folded_case_joins_the_survivors(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    await put_rules(api, unclassified="exclude")
    survivor, gone = uuid.uuid4(), uuid.uuid4()
    early = await declared(api, gone, "price", days_ago=5)  # no pursued reason: excluded by the rules
    assert (early["case"]["status"], early["case"]["exclusion_rule"]) == ("excluded", "unclassified")
    late = await declared(api, survivor, "left_dissatisfied", days_ago=1)
    assert late["case"]["status"] == "analysis"
    assert (await post(api, late["case"], "assign", {"owner": "agent-7"})).status_code == 200
    talk = await post(api, late["case"], "actions", {"kind": "personal_conversation", "cost": "25.00"})
    assert talk.status_code == 200

    await deliver(api, merged(survivor, gone))
    folded = (await api.get(f"{WINBACK}/cases/{late['case']['id']}")).json()
    assert folded["status"] == "merged"
    assert folded["phase"] == "assessment"
    assert folded["allowed_actions"] == []
    assert folded["merged_into"] == early["case"]["id"]
    assert folded["actions"] == []
    joined = (await api.get(f"{WINBACK}/cases/{early['case']['id']}")).json()
    assert joined["customer_id"] == str(survivor)
    assert joined["reasons"] == ["left_dissatisfied", "price"]
    assert (joined["status"], joined["owner"]) == ("implementation", "agent-7")
    assert [a["kind"] for a in joined["actions"]] == ["assigned", "personal_conversation"]
    assert await db.fetchval("SELECT cost FROM winback_cases WHERE id = $1", uuid.UUID(joined["id"])) == Decimal(
        "25.00"
    )
    assert await record_status(api, early["record"]) == "in_winback"
    assert len(await published(db, "winback.opened")) == 2  # the late case's, then the joined one's
    assert await published(db, "winback.lost") == []  # a merged case is neither won nor lost
    [ended] = await published(db, "winback.merged")  # ...but it ended, and campaign must know
    assert _undeclared(ended["data"], msgspec.convert(ended["data"], EVENT_TYPES["winback.merged"])) == []
    assert ended["subject"] == str(survivor)
    assert {k: ended["data"][k] for k in ("case_id", "record_id", "customer_id", "merged_into", "into_record_id")} == {
        "case_id": late["case"]["id"],
        "record_id": late["record"]["id"],
        "customer_id": str(survivor),
        "merged_into": early["case"]["id"],
        "into_record_id": early["record"]["id"],
    }
    listed = (await api.get(f"{WINBACK}/cases", params={"customer_id": str(survivor)})).json()["items"]
    assert {c["id"] for c in listed} == {early["case"]["id"], late["case"]["id"]}

    await deliver(api, merged(survivor, gone))  # redelivered: the inbox acknowledges it, nothing changes
    await deliver(api, order_created(gone, datetime.now(UTC), "80.00"))  # the merged id's order counts
    won = (await api.get(f"{WINBACK}/cases/{early['case']['id']}")).json()
    assert won["status"] == "won"
    [event] = await published(db, "winback.won")
    assert Decimal(event["data"]["cost"]) == Decimal("25.00")
    assert (await api.get(f"{WINBACK}/cases/{late['case']['id']}")).json()["status"] == "merged"


async def test_a_manual_exclusion_holds_through_a_merge(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    survivor, gone = uuid.uuid4(), uuid.uuid4()
    early = await declared(api, survivor, "attracted", days_ago=4)
    assert (await post(api, early["case"], "exclude", {"reason": "asked not to be called"})).status_code == 200
    late = await declared(api, gone, "other", days_ago=2)
    await deliver(api, merged(survivor, gone))
    joined = (await api.get(f"{WINBACK}/cases/{early['case']['id']}")).json()
    assert (joined["status"], joined["exclusion_rule"]) == ("excluded", "manual")
    assert (await api.get(f"{WINBACK}/cases/{late['case']['id']}")).json()["merged_into"] == joined["id"]
    assert await record_status(api, early["record"]) == "churned"
