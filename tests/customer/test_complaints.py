"""Complaints: taxonomy, SLAs, opening, the workflow, edits, concurrency, reads and filters."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from crm_customer.main import create_app
from crm_shared.testing import app_client, partner_headers, user_headers

from .helpers import idem, outbox_events, snapshot

STAFF = user_headers("u1", "complaints:read", "complaints:write", "customers:read", "customers:write")
URL = "/api/v1/complaints"


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def new_customer(api, first_name="Ana") -> str:
    r = await api.post("/api/v1/customers", json={"first_name": first_name}, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def open_complaint(api, customer_id, **over) -> dict:
    body = {
        "customer_id": customer_id,
        "category": "delivery",
        "severity": "medium",
        "channel": "phone",
        "subject": "Parcel arrived late",
        **over,
    }
    r = await api.post(URL, json=body, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()


async def move(api, complaint_id, action, expect=200, headers=None, **extra) -> httpx.Response:
    r = await api.post(
        f"{URL}/{complaint_id}/transitions", json={"action": action, **extra}, headers={**idem(), **(headers or {})}
    )
    assert r.status_code == expect, r.text
    return r


async def add_contact(db, customer_id) -> uuid.UUID:
    return await db.fetchval(
        "INSERT INTO contacts (customer_id, relation, first_name) VALUES ($1, 'employee', 'Eva') RETURNING id",
        uuid.UUID(customer_id),
    )


# -- taxonomy ------------------------------------------------------------------------------------


async def test_default_categories_and_user_defined_one(api, db):
    r = await api.get(f"{URL}/categories")
    assert r.status_code == 200
    assert [c["key"] for c in r.json()] == ["billing", "delivery", "other", "price", "product_quality", "service"]
    assert all(c["system"] and c["active"] for c in r.json())
    created = await api.post(f"{URL}/categories", json={"key": "packaging", "label": " Packaging "}, headers=idem())
    assert created.status_code == 201, created.text
    assert created.json()["label"] == "Packaging"
    assert created.json()["system"] is False
    assert created.headers["location"] == f"{URL}/categories/packaging"
    row = await db.fetchrow("SELECT label, system, active FROM complaint_categories WHERE key = 'packaging'")
    assert tuple(row) == ("Packaging", False, True)
    relabel = await api.patch(f"{URL}/categories/packaging", json={"label": "Packing"}, headers=idem())
    assert relabel.status_code == 200
    assert relabel.json()["label"] == "Packing"


async def test_duplicate_category_conflicts_and_changes_nothing(api, db):
    before = await snapshot(db)
    r = await api.post(f"{URL}/categories", json={"key": "delivery", "label": "Again"}, headers=idem())
    assert r.status_code == 409
    assert r.json()["key"] == "delivery"
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"key": "Packaging", "label": "P"}, "#/key"),
        ({"key": "9lives", "label": "P"}, "#/key"),
        ({"key": "a" * 65, "label": "P"}, "#/key"),
        ({"key": "packaging", "label": ""}, "#/label"),
        ({"key": "packaging"}, "#/label"),
        ({"key": "packaging", "label": "P", "system": True}, "#/system"),
    ],
)
async def test_bad_category_names_field(api, db, body, pointer):
    before = await snapshot(db)
    r = await api.post(f"{URL}/categories", json=body, headers=idem())
    assert r.status_code == 422
    assert [e["pointer"] for e in r.json()["errors"]] == [pointer]
    assert await snapshot(db) == before


async def test_system_category_keeps_label_but_can_be_deactivated(api, db):
    before = await snapshot(db)
    renamed = await api.patch(f"{URL}/categories/delivery", json={"label": "Shipping"}, headers=idem())
    assert renamed.status_code == 409
    assert "system category" in renamed.json()["detail"]
    null = await api.patch(f"{URL}/categories/delivery", json={"active": None}, headers=idem())
    assert null.status_code == 422
    assert null.json()["errors"][0]["pointer"] == "#/active"
    missing = await api.patch(f"{URL}/categories/nope", json={"active": False}, headers=idem())
    assert missing.status_code == 404
    assert await snapshot(db) == before
    same_label = await api.patch(
        f"{URL}/categories/delivery", json={"label": "Delivery", "active": False}, headers=idem()
    )
    assert same_label.status_code == 200
    assert same_label.json()["active"] is False
    active = [c["key"] for c in (await api.get(f"{URL}/categories")).json()]
    assert "delivery" not in active
    every = (await api.get(f"{URL}/categories", params={"include_inactive": "true"})).json()
    assert {c["key"]: c["active"] for c in every}["delivery"] is False
    back = await api.patch(f"{URL}/categories/delivery", json={"active": True}, headers=idem())
    assert back.json()["active"] is True


# -- SLAs ----------------------------------------------------------------------------------------


async def test_slas_listed_and_changed(api, db):
    r = await api.get(f"{URL}/slas")
    assert r.json() == [
        {"severity": "low", "resolve_within_hours": 168},
        {"severity": "medium", "resolve_within_hours": 72},
        {"severity": "high", "resolve_within_hours": 24},
        {"severity": "critical", "resolve_within_hours": 4},
    ]
    put = await api.put(f"{URL}/slas/critical", json={"resolve_within_hours": 2}, headers=idem())
    assert put.status_code == 200
    assert put.json() == {"severity": "critical", "resolve_within_hours": 2}
    assert await db.fetchval("SELECT resolve_within_hours FROM complaint_slas WHERE severity = 'critical'") == 2
    c = await open_complaint(api, await new_customer(api), severity="critical", opened_at="2026-01-05T08:00:00Z")
    assert _ts(c["due_at"]) == datetime(2026, 1, 5, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("critical", {"resolve_within_hours": 0}, {"pointer": "#/resolve_within_hours"}),
        ("critical", {"resolve_within_hours": -5}, {"pointer": "#/resolve_within_hours"}),
        ("critical", {"resolve_within_hours": "soon"}, {"pointer": "#/resolve_within_hours"}),
        ("urgent", {"resolve_within_hours": 5}, {"parameter": "severity"}),
    ],
)
async def test_bad_sla_changes_nothing(api, db, path, body, where):
    before = await snapshot(db)
    r = await api.put(f"{URL}/slas/{path}", json=body, headers=idem())
    assert r.status_code == 422
    (error,) = r.json()["errors"]
    assert {k: error[k] for k in where} == where
    assert await snapshot(db) == before


# -- opening -------------------------------------------------------------------------------------


async def test_open_sets_due_date_history_tag_and_event(api, db):
    customer = await new_customer(api)
    r = await api.post(
        URL,
        json={
            "customer_id": customer,
            "category": "product_quality",
            "severity": "high",
            "channel": "email",
            "subject": " Broken kettle ",
            "description": "Handle cracked on first use",
            "owner": "care-team",
            "opened_at": "2026-03-01T09:30:00+01:00",
        },
        headers=idem(),
    )
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["status"] == "open"
    assert c["subject"] == "Broken kettle"
    assert c["category"] == "product_quality"
    assert _ts(c["opened_at"]) == datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    assert _ts(c["due_at"]) == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)  # high: 24 hours
    assert c["number"] >= 1
    assert c["reopen_count"] == 0
    assert c["version"] == 1
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"] == f"{URL}/{c['id']}"
    changes = await db.fetch("SELECT from_status, to_status, changed_by FROM complaint_status_changes")
    assert [tuple(x) for x in changes] == [(None, "open", "u1")]
    tags = await db.fetch("SELECT customer_id, tag_key, source FROM customer_tags")
    assert [tuple(t) for t in tags] == [(uuid.UUID(customer), "complainant", "rule")]
    events = [e for e in await outbox_events(db) if e["type"].startswith("complaint.")]
    assert [e["type"] for e in events] == ["complaint.opened"]
    assert events[0]["subject"] == customer
    assert events[0]["data"]["complaint"]["id"] == c["id"]
    assert events[0]["data"]["to_status"] == "open"
    assert events[0]["data"]["from_status"] is None


async def test_open_defaults_to_now_and_tags_once(api, db):
    customer = await new_customer(api)
    before = datetime.now(UTC)
    first = await open_complaint(api, customer)
    second = await open_complaint(api, customer, severity="low")
    assert before <= _ts(first["opened_at"]) <= datetime.now(UTC)
    assert _ts(first["due_at"]) - _ts(first["opened_at"]) == timedelta(hours=72)
    assert _ts(second["due_at"]) - _ts(second["opened_at"]) == timedelta(hours=168)
    assert second["number"] == first["number"] + 1
    assert await db.fetchval("SELECT count(*) FROM customer_tags WHERE tag_key = 'complainant'") == 1


async def test_open_with_contact_of_the_customer(api, db):
    customer = await new_customer(api)
    contact = await add_contact(db, customer)
    c = await open_complaint(api, customer, contact_id=str(contact))
    assert c["contact_id"] == str(contact)


async def test_open_for_merged_customer_goes_to_survivor(api, db):
    merged, survivor = await new_customer(api, "Old"), await new_customer(api, "New")
    contact = await add_contact(db, merged)
    await db.execute(
        "UPDATE customers SET merged_into = $1, merged_at = now() WHERE id = $2", uuid.UUID(survivor), uuid.UUID(merged)
    )
    c = await open_complaint(api, merged, contact_id=str(contact))
    assert c["customer_id"] == survivor
    assert await db.fetchval("SELECT customer_id FROM customer_tags") == uuid.UUID(survivor)
    (event,) = [e for e in await outbox_events(db) if e["type"] == "complaint.opened"]
    assert event["subject"] == survivor


@pytest.mark.parametrize(
    ("over", "pointers"),
    [
        ({"customer_id": "8b6f7c4e-1d8a-4c1e-9a7e-2b4a3f5d6c7b"}, ["#/customer_id"]),
        ({"customer_id": "not-a-uuid"}, ["#/customer_id"]),
        ({"contact_id": "8b6f7c4e-1d8a-4c1e-9a7e-2b4a3f5d6c7b"}, ["#/contact_id"]),
        ({"contact_id": "OTHER"}, ["#/contact_id"]),
        ({"category": "weather"}, ["#/category"]),
        ({"category": "INACTIVE"}, ["#/category"]),
        ({"category": "Bad Key"}, ["#/category"]),
        ({"severity": "urgent"}, ["#/severity"]),
        ({"channel": "pigeon"}, ["#/channel"]),
        ({"subject": "  "}, ["#/subject"]),
        ({"subject": "x" * 201}, ["#/subject"]),
        ({"opened_at": "FUTURE"}, ["#/opened_at"]),
        ({"opened_at": "2026-01-01T10:00:00"}, ["#/opened_at"]),
        ({"status": "closed"}, ["#/status"]),
        ({"category": "weather", "opened_at": "FUTURE"}, ["#/category", "#/opened_at"]),
    ],
)
async def test_bad_complaint_names_field_and_changes_nothing(api, db, over, pointers):
    customer = await new_customer(api)
    other = await new_customer(api, "Bo")
    if over.get("contact_id") == "OTHER":
        over = {**over, "contact_id": str(await add_contact(db, other))}
    if over.get("category") == "INACTIVE":
        await api.post(f"{URL}/categories", json={"key": "legacy", "label": "Legacy"}, headers=idem())
        await api.patch(f"{URL}/categories/legacy", json={"active": False}, headers=idem())
        over = {**over, "category": "legacy"}
    if over.get("opened_at") == "FUTURE":
        over = {**over, "opened_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
    body = {
        "customer_id": customer,
        "category": "delivery",
        "severity": "medium",
        "channel": "phone",
        "subject": "Late",
        **over,
    }
    before = await snapshot(db)
    r = await api.post(URL, json=body, headers=idem())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert [e["pointer"] for e in r.json()["errors"]] == pointers
    assert await snapshot(db) == before


async def test_open_is_idempotent(api, db):
    customer = await new_customer(api)
    key = idem()
    body = {"customer_id": customer, "category": "price", "severity": "low", "channel": "web", "subject": "Too dear"}
    first = await api.post(URL, json=body, headers=key)
    again = await api.post(URL, json=body, headers=key)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await db.fetchval("SELECT count(*) FROM complaints") == 1


async def test_scopes_are_enforced(settings, db, api):
    customer = await new_customer(api)
    async with app_client(create_app(settings), headers=partner_headers("shop-1", "customers:write")) as partner:
        before = await snapshot(db)
        body = {"customer_id": customer, "category": "price", "severity": "low", "channel": "web", "subject": "S"}
        r = await partner.post(URL, json=body, headers=idem())
        assert r.status_code == 403
        assert "complaints:write" in r.json()["detail"]
        assert (await partner.get(URL)).status_code == 403
        assert (await partner.get(f"{URL}/reports/overdue")).status_code == 403
        assert await snapshot(db) == before


# -- workflow ------------------------------------------------------------------------------------


async def test_full_workflow_with_history_and_events(api, db):
    customer = await new_customer(api)
    c = await open_complaint(api, customer, severity="high", opened_at="2026-02-01T10:00:00Z")
    cid = c["id"]
    started = (await move(api, cid, "start", note="calling the carrier")).json()
    assert started["status"] == "in_progress"
    assert started["version"] == 2
    resolved = (
        await move(api, cid, "resolve", resolution_note="Refunded shipping", first_contact_resolution=True)
    ).json()
    assert resolved["status"] == "resolved"
    assert resolved["first_contact_resolution"] is True
    assert resolved["resolution_note"] == "Refunded shipping"
    assert resolved["resolved_at"] is not None
    closed = (await move(api, cid, "close")).json()
    assert closed["status"] == "closed"
    assert closed["closed_at"] is not None
    assert closed["resolved_at"] == resolved["resolved_at"]
    got = await api.get(f"{URL}/{cid}")
    assert got.status_code == 200
    assert got.headers["etag"] == '"4"'
    detail = got.json()
    assert [(h["from_status"], h["to_status"], h["note"]) for h in detail["history"]] == [
        (None, "open", None),
        ("open", "in_progress", "calling the carrier"),
        ("in_progress", "resolved", "Refunded shipping"),
        ("resolved", "closed", None),
    ]
    assert all(h["changed_by"] == "u1" for h in detail["history"])
    events = [e for e in await outbox_events(db) if e["type"].startswith("complaint.")]
    assert [e["type"] for e in events] == [
        "complaint.opened",
        "complaint.started",
        "complaint.resolved",
        "complaint.closed",
    ]
    assert [(e["data"]["from_status"], e["data"]["to_status"]) for e in events[1:]] == [
        ("open", "in_progress"),
        ("in_progress", "resolved"),
        ("resolved", "closed"),
    ]
    assert all(e["subject"] == customer for e in events)


async def test_resolve_straight_from_open(api):
    c = await open_complaint(api, await new_customer(api))
    r = await move(api, c["id"], "resolve", resolution_note="Explained the invoice", first_contact_resolution=False)
    assert r.json()["status"] == "resolved"
    assert r.json()["first_contact_resolution"] is False


async def test_reopen_clears_resolution_and_restarts_the_clock(api, db):
    c = await open_complaint(api, await new_customer(api), severity="medium", opened_at="2026-02-01T10:00:00Z")
    await move(api, c["id"], "resolve", resolution_note="Sent a new one", first_contact_resolution=True)
    await move(api, c["id"], "close")
    before = datetime.now(UTC)
    reopened = (await move(api, c["id"], "reopen", note="still broken")).json()
    assert reopened["status"] == "open"
    assert reopened["reopen_count"] == 1
    assert reopened["resolved_at"] is None
    assert reopened["closed_at"] is None
    assert reopened["first_contact_resolution"] is None
    assert reopened["resolution_note"] is None
    assert before + timedelta(hours=72) <= _ts(reopened["due_at"]) <= datetime.now(UTC) + timedelta(hours=72)
    assert reopened["opened_at"] == c["opened_at"]
    # a reopened complaint was, by definition, not solved at the first contact
    snap = await snapshot(db)
    fcr = await move(api, c["id"], "resolve", expect=422, resolution_note="Again", first_contact_resolution=True)
    assert fcr.json()["errors"][0]["pointer"] == "#/first_contact_resolution"
    assert await snapshot(db) == snap
    again = (await move(api, c["id"], "resolve", resolution_note="Replaced", first_contact_resolution=False)).json()
    assert again["status"] == "resolved"
    twice = (await move(api, c["id"], "reopen")).json()
    assert twice["reopen_count"] == 2
    types = [e["type"] for e in await outbox_events(db) if e["type"] == "complaint.reopened"]
    assert types == ["complaint.reopened", "complaint.reopened"]


async def _complaint_in(api, status: str) -> dict:
    c = await open_complaint(api, await new_customer(api))
    path = {
        "open": [],
        "in_progress": ["start"],
        "resolved": ["resolve"],
        "closed": ["resolve", "close"],
    }[status]
    for action in path:
        extra = {"resolution_note": "done", "first_contact_resolution": True} if action == "resolve" else {}
        await move(api, c["id"], action, **extra)
    return c


@pytest.mark.parametrize(
    ("status", "action", "allowed"),
    [
        ("open", "close", "start, resolve"),
        ("open", "reopen", "start, resolve"),
        ("in_progress", "start", "resolve"),
        ("in_progress", "close", "resolve"),
        ("in_progress", "reopen", "resolve"),
        ("resolved", "start", "close, reopen"),
        ("resolved", "resolve", "close, reopen"),
        ("closed", "start", "reopen"),
        ("closed", "resolve", "reopen"),
        ("closed", "close", "reopen"),
    ],
)
async def test_invalid_transition_conflicts_and_changes_nothing(api, db, status, action, allowed):
    c = await _complaint_in(api, status)
    before = await snapshot(db)
    extra = {"resolution_note": "x", "first_contact_resolution": False} if action == "resolve" else {}
    r = await move(api, c["id"], action, expect=409, **extra)
    problem = r.json()
    assert f"is {status}" in problem["detail"]
    assert f"allowed actions: {allowed}" in problem["detail"]
    assert problem["complaint_status"] == status
    assert problem["allowed_actions"] == allowed.split(", ")
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    ("body", "pointers"),
    [
        ({"action": "resolve"}, ["#/resolution_note", "#/first_contact_resolution"]),
        ({"action": "resolve", "resolution_note": "ok"}, ["#/first_contact_resolution"]),
        ({"action": "resolve", "first_contact_resolution": True}, ["#/resolution_note"]),
        ({"action": "resolve", "resolution_note": " ", "first_contact_resolution": True}, ["#/resolution_note"]),
        ({"action": "start", "resolution_note": "x"}, ["#/resolution_note"]),
        ({"action": "start", "first_contact_resolution": False}, ["#/first_contact_resolution"]),
        ({"action": "escalate"}, ["#/action"]),
        ({}, ["#/action"]),
    ],
)
async def test_bad_transition_body_changes_nothing(api, db, body, pointers):
    c = await open_complaint(api, await new_customer(api))
    before = await snapshot(db)
    r = await api.post(f"{URL}/{c['id']}/transitions", json=body, headers=idem())
    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == pointers
    assert await snapshot(db) == before


async def test_unknown_complaint(api, db):
    missing = "8b6f7c4e-1d8a-4c1e-9a7e-2b4a3f5d6c7b"
    before = await snapshot(db)
    assert (await api.get(f"{URL}/{missing}")).status_code == 404
    assert (await move(api, missing, "start", expect=404)).json()["status"] == 404
    assert (await api.patch(f"{URL}/{missing}", json={"owner": "x"}, headers=idem())).status_code == 404
    assert await snapshot(db) == before


# -- optimistic concurrency ----------------------------------------------------------------------


async def test_if_match_on_transition_and_patch(api, db):
    c = await open_complaint(api, await new_customer(api))
    url = f"{URL}/{c['id']}"
    etag = (await api.get(url)).headers["etag"]
    assert etag == '"1"'
    started = await move(api, c["id"], "start", headers={"If-Match": etag})
    assert started.headers["etag"] == '"2"'
    before = await snapshot(db)
    stale = await move(api, c["id"], "resolve", expect=412, headers={"If-Match": etag}, resolution_note="x",
                       first_contact_resolution=True)  # fmt: skip
    assert "current version 2" in stale.json()["detail"]
    stale_patch = await api.patch(url, json={"owner": "bo"}, headers={**idem(), "If-Match": etag})
    assert stale_patch.status_code == 412
    garbage = await api.patch(url, json={"owner": "bo"}, headers={**idem(), "If-Match": "abc"})
    assert garbage.status_code == 412
    assert await snapshot(db) == before
    ok = await api.patch(url, json={"owner": "bo"}, headers={**idem(), "If-Match": 'W/"2"'})
    assert ok.status_code == 200
    assert ok.headers["etag"] == '"3"'


# -- edits ---------------------------------------------------------------------------------------


async def test_patch_severity_recomputes_due_from_opened_at(api, db):
    c = await open_complaint(api, await new_customer(api), severity="low", opened_at="2026-02-01T10:00:00Z")
    assert _ts(c["due_at"]) == datetime(2026, 2, 8, 10, tzinfo=UTC)
    r = await api.patch(
        f"{URL}/{c['id']}",
        json={"severity": "critical", "category": "service", "owner": "lead", "description": "escalated"},
        headers=idem(),
    )
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["severity"] == "critical"
    assert p["category"] == "service"
    assert p["owner"] == "lead"
    assert p["description"] == "escalated"
    assert _ts(p["due_at"]) == datetime(2026, 2, 1, 14, tzinfo=UTC)
    assert p["version"] == 2
    (event,) = [e for e in await outbox_events(db) if e["type"] == "complaint.updated"]
    assert event["data"]["changed"] == ["owner", "category", "severity", "description", "due_at"]
    cleared = await api.patch(f"{URL}/{c['id']}", json={"owner": None, "subject": "New subject"}, headers=idem())
    assert cleared.json()["owner"] is None
    assert cleared.json()["subject"] == "New subject"
    before = await snapshot(db)
    same = await api.patch(f"{URL}/{c['id']}", json={"severity": "critical"}, headers=idem())
    assert same.json()["version"] == 3
    after = await snapshot(db)
    assert after["complaints"] == before["complaints"]
    assert after["outbox_messages"] == before["outbox_messages"]


async def test_patch_severity_after_reopen_counts_from_the_reopen(api, db):
    c = await open_complaint(api, await new_customer(api), severity="low", opened_at="2026-02-01T10:00:00Z")
    await move(api, c["id"], "resolve", resolution_note="done", first_contact_resolution=True)
    await move(api, c["id"], "reopen")
    reopened_at = await db.fetchval("SELECT max(changed_at) FROM complaint_status_changes WHERE to_status = 'open'")
    r = await api.patch(f"{URL}/{c['id']}", json={"severity": "high"}, headers=idem())
    assert _ts(r.json()["due_at"]) == reopened_at + timedelta(hours=24)


async def test_patch_resolved_is_allowed_but_closed_is_not(api, db):
    c = await _complaint_in(api, "resolved")
    ok = await api.patch(f"{URL}/{c['id']}", json={"owner": "auditor"}, headers=idem())
    assert ok.status_code == 200
    await move(api, c["id"], "close")
    before = await snapshot(db)
    r = await api.patch(f"{URL}/{c['id']}", json={"owner": "someone"}, headers=idem())
    assert r.status_code == 409
    assert "closed" in r.json()["detail"]
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    ("body", "pointers"),
    [
        ({"subject": None}, ["#/subject"]),
        ({"severity": None, "category": None}, ["#/category", "#/severity"]),
        ({"severity": "urgent"}, ["#/severity"]),
        ({"category": "weather"}, ["#/category"]),
        ({"category": "INACTIVE"}, ["#/category"]),
        ({"status": "closed"}, ["#/status"]),
        ({"owner": "x" * 101}, ["#/owner"]),
    ],
)
async def test_bad_patch_changes_nothing(api, db, body, pointers):
    c = await open_complaint(api, await new_customer(api))
    if body.get("category") == "INACTIVE":
        await api.patch(f"{URL}/categories/price", json={"active": False}, headers=idem())
        body = {"category": "price"}
    before = await snapshot(db)
    r = await api.patch(f"{URL}/{c['id']}", json=body, headers=idem())
    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == pointers
    assert await snapshot(db) == before


async def test_inactive_category_stays_on_existing_complaints(api):
    c = await open_complaint(api, await new_customer(api), category="price")
    await api.patch(f"{URL}/categories/price", json={"active": False}, headers=idem())
    r = await api.patch(f"{URL}/{c['id']}", json={"owner": "ops"}, headers=idem())
    assert r.status_code == 200
    assert r.json()["category"] == "price"


# -- lists ---------------------------------------------------------------------------------------


async def test_list_filters(api):
    ana, bo = await new_customer(api, "Ana"), await new_customer(api, "Bo")
    now = datetime.now(UTC)
    a1 = await open_complaint(api, ana, severity="critical", opened_at=(now - timedelta(hours=10)).isoformat())
    a2 = await open_complaint(
        api, ana, category="billing", owner="kim", opened_at=(now - timedelta(days=2)).isoformat()
    )
    b1 = await open_complaint(api, bo, severity="low", opened_at=(now - timedelta(days=3)).isoformat())
    b2 = await open_complaint(api, bo, severity="high", opened_at=(now - timedelta(days=5)).isoformat())
    await move(api, a2["id"], "start")
    await move(api, b2["id"], "resolve", resolution_note="ok", first_contact_resolution=True)

    async def ids(**params) -> list[str]:
        r = await api.get(URL, params=params)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert await ids() == [a1["id"], a2["id"], b1["id"], b2["id"]]
    assert await ids(sort="+opened_at") == [b2["id"], b1["id"], a2["id"], a1["id"]]
    assert await ids(customer_id=bo) == [b1["id"], b2["id"]]
    assert await ids(status="open") == [a1["id"], b1["id"]]
    assert await ids(status="in_progress,resolved") == [a2["id"], b2["id"]]
    assert await ids(status=["in_progress", "resolved"]) == [a2["id"], b2["id"]]
    assert await ids(category="billing") == [a2["id"]]
    assert await ids(severity="critical") == [a1["id"]]
    assert await ids(owner="kim") == [a2["id"]]
    # critical: due 4h after opening (10h ago); b2 is past due but resolved
    assert await ids(overdue="true") == [a1["id"]]
    assert await ids(overdue="false") == [a2["id"], b1["id"], b2["id"]]
    window = {"opened_from": (now - timedelta(days=4)).isoformat(), "opened_to": (now - timedelta(days=1)).isoformat()}
    assert await ids(**window) == [a2["id"], b1["id"]]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"status": "open,pending"}, "status"),
        ({"severity": "urgent"}, "severity"),
        ({"overdue": "maybe"}, "overdue"),
        ({"customer_id": "nope"}, "customer_id"),
        ({"opened_from": "2026-03-02T00:00:00Z", "opened_to": "2026-03-01T00:00:00Z"}, "opened_from"),
        ({"opened_from": "2026-03-02T00:00:00"}, "opened_from"),
        ({"limit": "101"}, "limit"),
    ],
)
async def test_bad_list_parameters(api, params, parameter):
    r = await api.get(URL, params=params)
    assert r.status_code == 422, r.text
    assert [e["parameter"] for e in r.json()["errors"]] == [parameter]


async def test_cursor_pagination(api):
    customer = await new_customer(api)
    base = datetime(2026, 1, 10, tzinfo=UTC)
    made = [
        (await open_complaint(api, customer, opened_at=(base + timedelta(hours=i)).isoformat()))["id"] for i in range(5)
    ]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "customer_id": customer, **({"cursor": cursor} if cursor else {})}
        page = (await api.get(URL, params=params)).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made[::-1]
    first = (await api.get(URL, params={"limit": 2, "customer_id": customer})).json()
    other_filters = await api.get(URL, params={"limit": 2, "cursor": first["next_cursor"], "status": "open"})
    assert other_filters.status_code == 400
    tampered = await api.get(URL, params={"limit": 2, "customer_id": customer, "cursor": "x" + first["next_cursor"]})
    assert tampered.status_code == 400


async def test_concurrent_transitions_apply_once(api, db):
    c = await open_complaint(api, await new_customer(api))
    body = {"action": "resolve", "resolution_note": "done", "first_contact_resolution": True}
    url = f"{URL}/{c['id']}/transitions"
    responses = await asyncio.gather(*(api.post(url, json=body, headers=idem()) for _ in range(2)))
    assert sorted(r.status_code for r in responses) == [200, 409]
    rows = await db.fetch("SELECT from_status, to_status FROM complaint_status_changes ORDER BY id")
    assert [tuple(r) for r in rows] == [(None, "open"), ("open", "resolved")]
    assert [e["type"] for e in await outbox_events(db) if e["type"] == "complaint.resolved"] == ["complaint.resolved"]
