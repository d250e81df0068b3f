"""Per-event isolation in the inbox and the dead-letter admin API, on a probe consumer built like every
service (create_service_app, the customer database, so its API prefix is /api/v1/customers).

An event whose handler fails, or whose envelope is malformed, is set aside with its reason while the rest
of its delivery applies in arrival order and the delivery is acknowledged; its id is not kept as applied.
A failure that is no fault of the event fails the whole delivery. Admins (events:admin) list, inspect
(with pii:read), replay and discard dead letters; partners never; Prometheus counts them, and the outbox
backlog per subscriber."""

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from crm_customer.main import SERVICE_DIR
from crm_customer.main import create_app as customer_app
from crm_scoring.config import Settings as ScoringSettings
from crm_scoring.main import create_app as scoring_app
from crm_shared.app import create_service_app
from crm_shared.db import driver_connection
from crm_shared.events import new_event
from crm_shared.inbox import RetryLater, apply_events
from crm_shared.settings import Subscription
from crm_shared.signing import signature_headers
from crm_shared.testing import TEST_EVENT_SECRET, app_client, partner_headers, principal_headers
from tests.customer.helpers import idem

BASE = "/api/v1/customers/dead-letters"
SOURCE = "/services/probe"
EMAIL = "ana.ruiz@example.com"
ADMIN = principal_headers(
    "root", "user", "customers:read", "customers:write", "events:admin", "pii:read", roles=("admin",)
)


async def take_notes(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    """Stores each note; a body listed in probe_poison is refused, as a handler refuses what it cannot hold."""
    conn = await driver_connection(session)
    bodies = [e["data"]["body"] for e in events]
    if poisoned := await conn.fetchval("SELECT min(body) FROM probe_poison WHERE body = ANY($1)", bodies):
        raise ValueError(f"cannot take note {poisoned!r}")
    await conn.executemany(
        "INSERT INTO probe_notes (event_id, kind, body) VALUES ($1, $2, $3)",
        [(uuid.UUID(e["id"]), e["type"], e["data"]["body"]) for e in events],
    )


async def unavailable(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    raise RetryLater("the probe's downstream is down")


HANDLERS = {"probe.note": take_notes, "probe.tag": take_notes, "probe.flaky": unavailable}


def probe_app(settings) -> FastAPI:
    return create_service_app(
        settings=settings,
        title="probe",
        description="dead-letter probe",
        service_dir=SERVICE_DIR,
        event_handlers=HANDLERS,
    )


@pytest.fixture
async def probe(settings, db) -> AsyncIterator[httpx.AsyncClient]:
    await db.execute(
        "CREATE TABLE probe_notes (seq int GENERATED ALWAYS AS IDENTITY, event_id uuid, kind text, body text)"
    )
    await db.execute("CREATE TABLE probe_poison (body text PRIMARY KEY)")
    subscribers = [
        Subscription(name="downstream", url="http://127.0.0.1:9/internal/events"),
        Subscription(name="idle", url="http://127.0.0.1:9/internal/events"),
    ]
    app = probe_app(settings.model_copy(update={"subscribers": subscribers, "outbox_enabled": False}))
    async with app_client(app, headers=ADMIN) as client:
        yield client


def note(body: str, *, kind: str = "probe.note", source: str = SOURCE) -> dict[str, Any]:
    return new_event(kind, source=source, subject=None, data={"body": body})


async def post_body(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    headers = {**signature_headers(TEST_EVENT_SECRET, str(uuid.uuid4()), body), "content-type": "application/json"}
    return await client.post("/internal/events", content=body, headers=headers)


async def post_events(client: httpx.AsyncClient, *events: dict[str, Any]) -> httpx.Response:
    return await post_body(client, msgspec.json.encode(list(events)))


async def poison(db, *bodies: str) -> None:
    await db.executemany("INSERT INTO probe_poison VALUES ($1)", [(b,) for b in bodies])


async def notes(db) -> list[str]:
    return [r["body"] for r in await db.fetch("SELECT body FROM probe_notes ORDER BY seq")]


async def applied_ids(db) -> set[str]:
    return {str(r["event_id"]) for r in await db.fetch("SELECT event_id FROM inbox_events")}


async def dead(db) -> list[dict[str, Any]]:
    return [dict(r) for r in await db.fetch("SELECT * FROM inbox_dead_letters ORDER BY id")]


# --- isolation ---------------------------------------------------------------------------------------


async def test_one_poison_event_does_not_hold_back_its_delivery(probe, db):
    await poison(db, EMAIL)
    a, b, c, nul = note("a"), note(EMAIL), note("c"), note("nul\x00byte")
    unhandled, d = note("x", kind="probe.unknown"), note("d")
    r = await post_events(probe, a, b, c, nul, unhandled, d)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 6, "applied": 4, "dead_lettered": 2}
    assert await notes(db) == ["a", "c", "d"]  # the rest applied, in arrival order
    assert await applied_ids(db) == {a["id"], c["id"], unhandled["id"], d["id"]}  # not the poison ones
    rows = await dead(db)
    assert [(str(r["event_id"]), r["event_type"], r["source"], r["attempts"]) for r in rows] == [
        (b["id"], "probe.note", SOURCE, 1),
        (nul["id"], "probe.note", SOURCE, 1),
    ]
    assert rows[0]["reason"] == "ValueError: cannot take note '[email]'"  # personal data scrubbed
    assert "(SQLSTATE 22021)" in rows[1]["reason"]  # PostgreSQL refused the NUL
    assert msgspec.json.decode(rows[1]["payload"]) == nul  # kept as received, NUL included


async def test_malformed_envelopes_are_set_aside_and_the_rest_applies(probe, db):
    good = note("good")
    no_id = {**note("no id"), "id": "not-a-uuid"}
    no_object = {**note("no object"), "data": "just text"}
    control = {**note("control"), "type": "probe.\x00note"}
    r = await post_events(probe, no_id, good, no_object, control)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 4, "applied": 1, "dead_lettered": 3}
    assert await notes(db) == ["good"]
    rows = await dead(db)
    assert [r["event_id"] and str(r["event_id"]) for r in rows] == [None, no_object["id"], control["id"]]
    assert [r["event_type"] for r in rows] == ["probe.note", "probe.note", "probe.\\u0000note"]
    assert all(r["reason"].startswith("invalid envelope: ") for r in rows)
    # Not envelopes at all: refused whole, as before.
    for body in (b"[1]", b'["text"]', b"42", b"not json", b'[{"id": 1}, 2]'):
        assert (await post_body(probe, body)).status_code == 400, body
    assert len(await dead(db)) == 3


async def test_a_handler_that_cannot_apply_now_fails_the_whole_delivery(probe, db):
    r = await post_events(probe, note("a"), note("later", kind="probe.flaky"))
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "5"
    assert (await notes(db), await applied_ids(db), await dead(db)) == ([], set(), [])


async def test_past_the_isolation_time_a_failing_group_is_set_aside_whole(probe, db):
    """Many poison events, or a handler failing on everything: the delivery still answers in time."""
    await poison(db, "b")
    events = [note("a"), note("b"), note("c")]
    sessionmaker = probe._transport.app.state.sessionmaker
    async with sessionmaker() as session, session.begin():
        outcome = await apply_events(session, events, HANDLERS, isolation_seconds=0)
    assert [f.event_id for f in outcome.failed] == [e["id"] for e in events]
    assert outcome.failed[0].reason == (
        "set aside with its group of 3 (not split in time; replay it): ValueError: cannot take note 'b'"
    )
    assert (await notes(db), await applied_ids(db)) == ([], set())


async def test_a_redelivered_poison_event_updates_its_dead_letter(probe, db):
    await poison(db, "b")
    a, b = note("a"), note("b")
    await post_events(probe, a, b)
    again = await post_events(probe, a, b)
    assert again.json() == {"received": 2, "applied": 0, "dead_lettered": 1}
    (row,) = await dead(db)
    assert (row["attempts"], row["last_failed_at"] > row["dead_lettered_at"]) == (2, True)
    assert await notes(db) == ["a"]


# --- replay and discard ------------------------------------------------------------------------------


async def test_replay_one_keeps_it_while_it_fails_and_applies_it_once_fixed(probe, db):
    await poison(db, "b")
    b = note("b")
    await post_events(probe, note("a"), b)
    (row,) = await dead(db)
    url = f"{BASE}/{row['id']}/replay"

    failed = await probe.post(url, headers=idem())
    assert failed.status_code == 200, failed.text
    assert failed.json() == {
        "id": row["id"],
        "event_id": b["id"],
        "outcome": "failed",
        "reason": "ValueError: cannot take note 'b'",
    }
    assert (await dead(db))[0]["attempts"] == 2

    await db.execute("DELETE FROM probe_poison")  # the fix
    key = idem()
    applied = await probe.post(url, headers=key)
    assert applied.json()["outcome"] == "applied"
    assert await notes(db) == ["a", "b"]
    assert b["id"] in await applied_ids(db)
    assert await dead(db) == []
    assert (await probe.get(f"{BASE}/{row['id']}")).status_code == 404

    replayed = await probe.post(url, headers=key)  # the same key: the stored answer, nothing applied twice
    assert (replayed.json(), replayed.headers["Idempotent-Replayed"]) == (applied.json(), "true")
    assert (await post_events(probe, b)).json() == {"received": 1, "applied": 0}  # a redelivery: already applied
    assert await notes(db) == ["a", "b"]
    assert (await probe.post(url, headers=idem())).status_code == 404
    assert (await probe.post(url)).status_code == 400  # writes need an Idempotency-Key


async def test_replay_matching_goes_oldest_first_by_filter_and_limit(probe, db):
    await poison(db, "n1", "n2", "n3", "t1")
    await post_events(probe, note("n1"), note("n2"), note("t1", kind="probe.tag"), note("n3", source="/services/x"))
    await db.execute("DELETE FROM probe_poison WHERE body <> 'n3'")

    first = (await probe.post(f"{BASE}/replay", json={"type": "probe.note", "limit": 2}, headers=idem())).json()
    assert (first["applied"], first["failed"], first["more"]) == (2, 0, True)
    second = (await probe.post(f"{BASE}/replay", json={"type": "probe.note"}, headers=idem())).json()
    assert (second["applied"], second["failed"], second["more"]) == (0, 1, False)  # n3 is still poison
    assert second["items"][0]["reason"] == "ValueError: cannot take note 'n3'"
    by_source = (await probe.post(f"{BASE}/replay", json={"source": SOURCE}, headers=idem())).json()
    assert (by_source["applied"], by_source["failed"]) == (1, 0)  # t1
    assert await notes(db) == ["n1", "n2", "t1"]
    assert [r["event_type"] for r in await dead(db)] == ["probe.note"]
    everything = await probe.post(f"{BASE}/replay", headers=idem())  # no body: every dead letter
    assert (everything.json()["failed"], everything.json()["more"]) == (1, False)
    bad_range = {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    assert (await probe.post(f"{BASE}/replay", json=bad_range, headers=idem())).status_code == 422


async def test_discard_drops_it_for_good(probe, db):
    await poison(db, "b")
    b = note("b")
    await post_events(probe, b)
    (row,) = await dead(db)
    r = await probe.delete(f"{BASE}/{row['id']}", headers=idem())
    assert r.status_code == 204
    assert await dead(db) == []
    await db.execute("DELETE FROM probe_poison")
    assert (await post_events(probe, b)).json() == {"received": 1, "applied": 0}  # acknowledged, not applied
    assert await notes(db) == []
    assert (await probe.delete(f"{BASE}/{row['id']}", headers=idem())).status_code == 404
    audited = await db.fetchval("SELECT action FROM audit_log WHERE status = 204")
    assert audited == "DELETE /api/v1/customers/dead-letters/{dead_letter_id}"


# --- listing ------------------------------------------------------------------------------------------


async def test_list_newest_first_with_filters_and_cursor_pages(probe, db):
    await poison(db, "p1", "p2", "p3")
    events = [note("p1"), note("p2", kind="probe.tag"), note("p3", source="/services/other")]
    for event in events:  # one delivery each: three dead letters, oldest first
        await post_events(probe, event)
    r = await probe.get(BASE, params={"limit": 2})
    page = r.json()
    assert [i["event_id"] for i in page["items"]] == [events[2]["id"], events[1]["id"]]
    assert "payload" not in page["items"][0]
    rest = (await probe.get(BASE, params={"limit": 2, "cursor": page["next_cursor"]})).json()
    assert ([i["event_id"] for i in rest["items"]], rest["next_cursor"]) == ([events[0]["id"]], None)
    other_filters = {"type": "probe.tag", "cursor": page["next_cursor"]}
    assert (await probe.get(BASE, params=other_filters)).status_code == 400  # cursors are bound to filters

    async def ids(**params: str) -> list[str]:
        return [i["event_id"] for i in (await probe.get(BASE, params=params)).json()["items"]]

    assert await ids(type="probe.tag") == [events[1]["id"]]
    assert await ids(source="/services/other") == [events[2]["id"]]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert await ids(**{"from": future}) == []
    assert len(await ids(**{"from": past, "to": future})) == 3
    assert (await probe.get(BASE, params={"from": future, "to": past})).status_code == 422
    assert (await probe.get(BASE, params={"type": "bad\x01type"})).status_code == 422
    for edge in ("0001-01-01T00:30:00+01:00", "9999-12-31T00:00:00Z", "2026-01-01T00:00:00"):  # no zone
        assert (await probe.get(BASE, params={"from": edge})).status_code == 422, edge

    one = (await probe.get(f"{BASE}/{(await dead(db))[0]['id']}")).json()
    assert (one["event_id"], one["payload"]) == (events[0]["id"], events[0])
    assert one["reason"] == "ValueError: cannot take note 'p1'"


# --- access -------------------------------------------------------------------------------------------


def _calls(dead_id: int) -> list[tuple[str, str, bool]]:
    return [
        ("GET", BASE, False),
        ("GET", f"{BASE}/{dead_id}", False),
        ("POST", f"{BASE}/{dead_id}/replay", True),
        ("POST", f"{BASE}/replay", True),
        ("DELETE", f"{BASE}/{dead_id}", True),
    ]


@pytest.mark.parametrize(
    "caller",
    [
        partner_headers("shop-1", "customers:read", "customers:write", "events:admin", "pii:read"),
        principal_headers("agent-7", "user", "customers:read", "customers:write", "pii:read", roles=("agent",)),
        principal_headers("root", "user", "events:admin", "pii:read", roles=("admin",)),  # no family scope
    ],
    ids=["partner", "staff-without-events-admin", "without-the-family-scope"],
)
async def test_only_admins_reach_dead_letters(probe, db, caller):
    await poison(db, "b")
    await post_events(probe, note("b"))
    (row,) = await dead(db)
    for method, path, writes in _calls(row["id"]):
        r = await probe.request(method, path, headers={**caller, **(idem() if writes else {})})
        assert r.status_code == 403, (method, path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert len(await dead(db)) == 1


async def test_payloads_need_pii_read_and_their_reads_are_audited(probe, db):
    await poison(db, "b")
    await post_events(probe, note("b"))
    (row,) = await dead(db)
    no_pii = principal_headers("ops", "user", "customers:read", "events:admin", roles=("ops",))
    assert (await probe.get(BASE, headers=no_pii)).status_code == 200
    assert (await probe.get(f"{BASE}/{row['id']}", headers=no_pii)).status_code == 403
    assert (await probe.get(f"{BASE}/{row['id']}")).status_code == 200
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action LIKE 'GET %'") == 1


def test_declared_in_the_openapi_and_served_only_by_consumers(settings):
    spec = probe_app(settings).openapi()
    access = {
        (method, path): op["x-crm-access"]
        for path, item in spec["paths"].items()
        if "/dead-letters" in path
        for method, op in item.items()
    }
    read, write = ["customers:read", "events:admin"], ["customers:write", "events:admin"]
    assert access == {
        ("get", BASE): {"scopes": read, "partner": "none", "pii": False},
        ("get", f"{BASE}/{{dead_letter_id}}"): {"scopes": [*read, "pii:read"], "partner": "none", "pii": True},
        ("post", f"{BASE}/{{dead_letter_id}}/replay"): {"scopes": write, "partner": "none", "pii": False},
        ("post", f"{BASE}/replay"): {"scopes": write, "partner": "none", "pii": False},
        ("delete", f"{BASE}/{{dead_letter_id}}"): {"scopes": write, "partner": "none", "pii": False},
    }
    assert not any("/dead-letters" in p for p in customer_app(settings).openapi()["paths"])  # consumes nothing
    scoring = scoring_app(ScoringSettings(database_url=settings.database_url)).openapi()
    assert "/api/v1/scores/dead-letters" in scoring["paths"]


# --- metrics ------------------------------------------------------------------------------------------


def _sample(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", text, re.MULTILINE)
    return float(match[1]) if match else None


async def test_metrics_count_dead_letters_and_the_outbox_backlog(probe, db):
    await poison(db, "b", "c")
    before = _sample((await probe.get("/metrics")).text, "crm_inbox_dead_lettered_events_total", event_type="probe.tag")
    await post_events(probe, note("b"), note("c", kind="probe.tag"), note("a"))
    await post_events(probe, note("c", kind="probe.tag"))
    await db.execute(
        "INSERT INTO outbox_messages (created_at, event_count, event_types, events, pending) VALUES "
        "(now() - interval '30 seconds', 1, '{probe.note}', '[]', '{downstream}'), "
        "(now() - interval '5 seconds', 1, '{probe.note}', '[]', '{downstream}')"
    )
    text = (await probe.get("/metrics")).text
    assert _sample(text, "crm_inbox_dead_letters_open", event_type="probe.note") == 1
    assert _sample(text, "crm_inbox_dead_letters_open", event_type="probe.tag") == 2
    counted = _sample(text, "crm_inbox_dead_lettered_events_total", event_type="probe.tag")
    assert counted == (before or 0) + 2
    assert _sample(text, "crm_outbox_pending_messages", subscriber="downstream") == 2
    assert 30 <= _sample(text, "crm_outbox_oldest_pending_age_seconds", subscriber="downstream") < 60
    assert _sample(text, "crm_outbox_pending_messages", subscriber="idle") == 0
    assert _sample(text, "crm_outbox_oldest_pending_age_seconds", subscriber="idle") == 0
