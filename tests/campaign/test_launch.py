"""Launching a campaign on real PostgreSQL: the split is reproducible (each customer's group follows the
documented draw) and its control share within tolerance, stratified splits are exact per ABC class, the
global holdout is applied to marketing only, and consent, preferred channel, caps, quiet hours and budget
stop recipients with the reason recorded."""

import math
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import httpx
import msgspec

from crm_campaign.campaigns.assignment import unit
from crm_shared.schemas.campaigns import CampaignLaunchedData
from crm_shared.schemas.events import EVENT_TYPES
from tests.campaign.support import EVERYONE, add_audience, idem, new_campaign, new_segment, outbox_events


async def _launch(api: httpx.AsyncClient, campaign_id: str) -> dict:
    r = await api.post(f"/api/v1/campaigns/{campaign_id}/launch", headers=idem())
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _groups(db: asyncpg.Connection, campaign_id: str) -> dict[uuid.UUID, str]:
    rows = await db.fetch(
        "SELECT customer_id, grp FROM campaign_members WHERE campaign_id = $1", uuid.UUID(campaign_id)
    )
    return {r["customer_id"]: r["grp"] for r in rows}


async def test_assignment_is_reproducible_and_the_control_share_within_tolerance(
    api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    n, share, seed = 4000, 0.2, 123456789
    await add_audience(db, [{"abc_class": "ABC"[i % 3]} for i in range(n)])
    segment = await new_segment(api, EVERYONE)
    first = await new_campaign(api, segment, control_share=str(share), seed=seed)
    second = await new_campaign(api, segment, control_share=str(share), seed=seed)
    other = await new_campaign(api, segment, control_share=str(share))
    summary = await _launch(api, first["id"])
    await _launch(api, second["id"])
    await _launch(api, other["id"])
    a, b, c = await _groups(db, first["id"]), await _groups(db, second["id"]), await _groups(db, other["id"])
    assert a == b  # same seed, same audience: the same split
    assert a != c  # another seed: another split
    assert all(grp == ("control" if unit(seed, cid) < share else "treatment") for cid, grp in a.items())
    control = sum(1 for g in a.values() if g == "control")
    assert summary["groups"] == {"treatment": n - control, "control": control, "global_control": 0}
    # Binomial(4000, 0.2): sd = sqrt(4000 * 0.2 * 0.8) = 25.3; 4 sd either way
    assert abs(control - n * share) < 4 * math.sqrt(n * share * (1 - share))


async def test_stratified_split_holds_out_the_share_of_each_abc_class(
    api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    sizes = {"A": 50, "B": 130, "C": 333}
    await add_audience(db, [{"abc_class": k} for k, size in sizes.items() for _ in range(size)])
    campaign = await new_campaign(api, await new_segment(api, EVERYONE), control_share="0.3", stratify_by_abc=True)
    await _launch(api, campaign["id"])
    rows = await db.fetch(
        "SELECT stratum, count(*) FILTER (WHERE grp = 'control') AS control, count(*) AS n FROM campaign_members "
        "WHERE campaign_id = $1 GROUP BY stratum",
        uuid.UUID(campaign["id"]),
    )
    assert {r["stratum"]: (r["control"], r["n"]) for r in rows} == {
        k: (round(size * 0.3), size) for k, size in sizes.items()
    }


async def test_global_holdout_keeps_its_share_out_of_marketing_but_not_transactional(
    api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    ids = await add_audience(db, [{} for _ in range(600)])
    now = datetime.now(UTC)
    body = {"name": "2026 programme", "share": "0.25", "seed": 42, "starts_at": (now - timedelta(days=1)).isoformat()}
    r = await api.post(
        "/api/v1/campaigns/holdouts", json={**body, "ends_at": (now + timedelta(days=90)).isoformat()}, headers=idem()
    )
    assert r.status_code == 201, r.text
    bad = await api.post("/api/v1/campaigns/holdouts", json={**body, "ends_at": body["starts_at"]}, headers=idem())
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "#/ends_at"
    segment = await new_segment(api, EVERYONE)
    marketing = await new_campaign(api, segment, control_share="0.1", seed=7)
    transactional = await new_campaign(api, segment, kind="transactional", control_share="0")
    await _launch(api, marketing["id"])
    await _launch(api, transactional["id"])
    held = {cid for cid in ids if unit(42, cid) < 0.25}
    groups = await _groups(db, marketing["id"])
    assert {cid for cid, g in groups.items() if g == "global_control"} == held
    assert all(g == ("control" if unit(7, cid) < 0.1 else "treatment") for cid, g in groups.items() if cid not in held)
    assert set((await _groups(db, transactional["id"])).values()) == {"treatment"}
    assert (await api.get("/api/v1/campaigns/holdouts")).json()["items"][0]["share"] == "0.2500"


async def test_rules_stop_recipients_with_the_reason(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    people = {
        "ok": {},
        "opted_out": {"consent_email": "opted_out"},
        "never_asked": {"consent_email": None},
        "no_email": {"email": None},
        "prefers_sms": {"preferred_channel": "sms"},
        "own_max": {"max_contacts_per_month": 1},
        "capped": {},
        "asleep": {"time_zone": "Pacific/Kiritimati"},
    }
    ids = dict(zip(people, await add_audience(db, list(people.values())), strict=True))
    now = datetime.now(UTC)
    # one marketing contact for own_max (its max is 1), four (the global cap) for capped, a transactional
    # one for ok (exempt from caps)
    log = [(ids["own_max"], "marketing")] + [(ids["capped"], "marketing")] * 4 + [(ids["ok"], "transactional")] * 9
    await db.executemany(
        "INSERT INTO contact_log (customer_id, channel, kind, sent_at) VALUES ($1, 'email', $2, $3)",
        [(cid, kind, now - timedelta(days=3)) for cid, kind in log],
    )
    campaign = await new_campaign(api, await new_segment(api, EVERYONE), control_share="0")
    summary = await _launch(api, campaign["id"])
    rows = await db.fetch(
        "SELECT customer_id, status, reason, not_before FROM campaign_recipients WHERE campaign_id = $1",
        uuid.UUID(campaign["id"]),
    )
    got = {r["customer_id"]: (r["status"], r["reason"]) for r in rows}
    assert {name: got[cid] for name, cid in ids.items()} == {
        "ok": ("queued", None),
        "opted_out": ("suppressed", "no_consent"),
        "never_asked": ("suppressed", "no_consent"),
        "no_email": ("suppressed", "no_address"),
        "prefers_sms": ("suppressed", "not_preferred_channel"),
        "own_max": ("suppressed", "customer_frequency_cap"),
        "capped": ("suppressed", "frequency_cap"),
        "asleep": ("queued", None),
    }
    assert summary["recipients"] == {"queued": 2, "suppressed": 6}
    assert summary["suppressed"]["no_consent"] == 2
    # Quiet hours 21:00-08:00 in the customer's zone (UTC+14): queued for the end of the quiet window
    not_before = {r["customer_id"]: r["not_before"] for r in rows}
    local = now.astimezone(__import__("zoneinfo").ZoneInfo("Pacific/Kiritimati"))
    if local.hour >= 21 or local.hour < 8:
        end = local.replace(hour=8, minute=0, second=0, microsecond=0)
        if local.hour >= 21:
            end += timedelta(days=1)
        assert not_before[ids["asleep"]] == end
    else:
        assert not_before[ids["asleep"]] <= datetime.now(UTC)


async def test_transactional_messages_skip_caps_and_preferences_but_not_an_opt_out(
    api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    ids = await add_audience(
        db,
        [
            {"preferred_channel": "sms", "max_contacts_per_month": 0},
            {"consent_email": None},
            {"consent_email": "opted_out"},
        ],
    )
    campaign = await new_campaign(api, await new_segment(api, EVERYONE), kind="transactional", control_share="0")
    await _launch(api, campaign["id"])
    rows = await db.fetch(
        "SELECT customer_id, status, reason FROM campaign_recipients WHERE campaign_id = $1", uuid.UUID(campaign["id"])
    )
    got = {r["customer_id"]: (r["status"], r["reason"]) for r in rows}
    assert [got[i] for i in ids] == [("queued", None), ("queued", None), ("suppressed", "no_consent")]


async def test_budget_contacts_the_most_valuable_first(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    ids = await add_audience(db, [{"composite_score": Decimal(i)} for i in range(10)])
    campaign = await new_campaign(
        api, await new_segment(api, EVERYONE), control_share="0", cost_per_contact="0.75", budget="3.00"
    )
    summary = await _launch(api, campaign["id"])
    assert summary["recipients"] == {"queued": 4, "suppressed": 6}
    assert summary["suppressed"] == {"budget": 6}
    queued = await db.fetch(
        "SELECT customer_id FROM campaign_recipients WHERE campaign_id = $1 AND status = 'queued'",
        uuid.UUID(campaign["id"]),
    )
    assert {r["customer_id"] for r in queued} == set(ids[6:])


async def test_launch_publishes_once_and_a_second_launch_conflicts(
    api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await add_audience(db, [{} for _ in range(20)])
    campaign = await new_campaign(api, await new_segment(api, EVERYONE), scheduled_at="2100-01-01T09:00:00+00:00")
    summary = await _launch(api, campaign["id"])
    again = await api.post(f"/api/v1/campaigns/{campaign['id']}/launch", headers=idem())
    assert again.status_code == 409
    events = await outbox_events(db, "campaign.launched")
    assert len(events) == 1
    data = msgspec.convert(events[0]["data"], EVENT_TYPES["campaign.launched"])
    assert isinstance(data, CampaignLaunchedData)
    assert set(events[0]["data"]) == set(CampaignLaunchedData.__struct_fields__)  # no undeclared field
    assert data.members == 20
    assert data.treatment + data.control == 20
    assert data.queued == summary["recipients"]["queued"]
    # nothing is sent before the schedule
    earliest = await db.fetchval(
        "SELECT min(not_before) FROM campaign_recipients WHERE campaign_id = $1", uuid.UUID(campaign["id"])
    )
    assert earliest >= datetime(2100, 1, 1, 9, tzinfo=UTC)
    got = (await api.get(f"/api/v1/campaigns/{campaign['id']}")).json()
    assert got["status"] == "launched"
    assert got["launched_at"]


async def test_bad_templates_and_inputs_are_refused_and_change_nothing(
    api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    segment = await new_segment(api, EVERYONE)
    body = {"name": "x", "objective": "retention", "segment_id": segment, "channel": "email"}
    cases = [
        ({"template": "Hello\n{{ customer.first_name }\n"}, "#/template", "line 2"),
        ({"template": "Hi\n\n{{ customer.shoe_size }}"}, "#/template", "line 3"),
        ({"template": "{{ customer.__class__.__mro__ }}"}, "#/template", "unsafe"),
        ({"template": "ok", "subject": "{% if %}"}, "#/subject", "line 1"),
        ({"template": "ok", "kind": "transactional", "control_share": "0.1"}, "#/control_share", "control group"),
        ({"template": "ok", "segment_id": str(uuid.uuid4())}, "#/segment_id", "no such segment"),
    ]
    for extra, pointer, words in cases:
        r = await api.post("/api/v1/campaigns", json={**body, **extra}, headers=idem())
        assert r.status_code == 422, (extra, r.text)
        [error] = r.json()["errors"]
        assert error["pointer"] == pointer, (extra, error)
        assert words in error["detail"], (extra, error)
    for extra in ({"template": "ok", "control_share": "0.95"}, {"template": "ok", "channel": "fax"}, {"template": ""}):
        assert (await api.post("/api/v1/campaigns", json={**body, **extra}, headers=idem())).status_code == 422
    assert (await api.get("/api/v1/campaigns")).json()["items"] == []
    assert await db.fetchval("SELECT count(*) FROM campaigns") == 0


async def test_only_a_draft_changes(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    campaign = await new_campaign(api, await new_segment(api, EVERYONE))
    url = f"/api/v1/campaigns/{campaign['id']}"
    assert (await api.patch(url, json={"name": "New"}, headers=idem())).status_code == 428
    bad = await api.patch(url, json={"template": "{{ oops"}, headers=idem(**{"If-Match": '"1"'}))
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "#/template"
    ok = await api.patch(url, json={"name": "New", "budget": "100"}, headers=idem(**{"If-Match": '"1"'}))
    assert ok.status_code == 200
    assert ok.json()["version"] == 2
    assert ok.json()["budget"] == "100.00"
    await _launch(api, campaign["id"])
    assert (await api.patch(url, json={"name": "Late"}, headers=idem(**{"If-Match": '"3"'}))).status_code == 409


async def test_cancel_suppresses_what_is_still_queued(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    await add_audience(db, [{} for _ in range(4)])
    campaign = await new_campaign(api, await new_segment(api, EVERYONE), control_share="0")
    cid = uuid.UUID(campaign["id"])
    await _launch(api, campaign["id"])
    await db.execute(
        "UPDATE campaign_recipients SET status = 'sent' WHERE campaign_id = $1 AND customer_id = "
        "(SELECT customer_id FROM campaign_recipients WHERE campaign_id = $1 ORDER BY customer_id LIMIT 1)",
        cid,
    )
    r = await api.post(f"/api/v1/campaigns/{cid}/cancel", headers=idem())
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    rows = await db.fetch(
        "SELECT status, reason, count(*) AS n FROM campaign_recipients WHERE campaign_id = $1 GROUP BY 1, 2", cid
    )
    assert {(x["status"], x["reason"]): x["n"] for x in rows} == {("sent", None): 1, ("suppressed", "cancelled"): 3}
    assert (await api.post(f"/api/v1/campaigns/{cid}/cancel", headers=idem())).status_code == 409
