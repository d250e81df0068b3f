"""Profile answers ("drip" profiling): history newest first, latest answer per question, events."""

import uuid

import pytest

from .helpers import idem, outbox_events, snapshot


@pytest.fixture
async def client(api):
    """These are staff features (partners may not use them): the tests call as a staff user."""
    return api


async def _customer(client):
    r = await client.post("/api/v1/customers", json={"first_name": "Ana"}, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _answer(client, cid, key, answer, at=None, channel=None):
    body = {"question_key": key, "answer": answer}
    if at:
        body["answered_at"] = at
    if channel:
        body["channel"] = channel
    r = await client.post(f"/api/v1/customers/{cid}/profile-answers", json=body, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()


async def test_answer_is_stored_and_emitted(client, db):
    cid = await _customer(client)
    a = await _answer(client, cid, "household.children", " 2 ", "2026-11-01T10:00:00+01:00", "phone")
    assert a["customer_id"] == cid
    assert a["answer"] == "2"
    assert a["channel"] == "phone"
    assert a["answered_at"] == "2026-11-01T09:00:00Z"
    row = await db.fetchrow("SELECT * FROM profile_answers")
    assert (row["question_key"], row["answer"], row["channel"]) == ("household.children", "2", "phone")
    (event,) = [e for e in await outbox_events(db) if e["type"] == "profile.answered"]
    assert event["subject"] == cid
    assert event["data"]["answer"]["question_key"] == "household.children"


async def test_answered_at_defaults_to_now(client, db):
    cid = await _customer(client)
    a = await _answer(client, cid, "pets", "cat")
    assert a["channel"] is None
    assert await db.fetchval("SELECT now() - answered_at < interval '1 minute' FROM profile_answers")


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"question_key": "Pets", "answer": "cat"}, "#/question_key"),
        ({"question_key": "9lives", "answer": "cat"}, "#/question_key"),
        ({"question_key": "pets", "answer": "  "}, "#/answer"),
        ({"question_key": "pets"}, "#/answer"),
        ({"question_key": "pets", "answer": "cat", "channel": "pigeon"}, "#/channel"),
        ({"question_key": "pets", "answer": "cat", "answered_at": "2099-01-01T00:00:00Z"}, "#/answered_at"),
        ({"question_key": "pets", "answer": "cat", "answered_at": "2026-01-01T00:00:00"}, "#/answered_at"),
        ({"question_key": "pets", "answer": "cat", "score": 1}, "#/score"),
    ],
)
async def test_bad_answer_names_field_and_changes_nothing(client, db, body, pointer):
    cid = await _customer(client)
    before = await snapshot(db)
    r = await client.post(f"/api/v1/customers/{cid}/profile-answers", json=body, headers=idem())
    assert r.status_code == 422, r.text
    assert any(e.get("pointer") == pointer for e in r.json()["errors"]), r.json()
    assert await snapshot(db) == before


async def test_unknown_customer_is_404_and_changes_nothing(client, db):
    before = await snapshot(db)
    missing = uuid.uuid4()
    r = await client.post(
        f"/api/v1/customers/{missing}/profile-answers", json={"question_key": "pets", "answer": "cat"}, headers=idem()
    )
    assert r.status_code == 404
    assert (await client.get(f"/api/v1/customers/{missing}/profile-answers")).status_code == 404
    assert (await client.get(f"/api/v1/customers/{missing}/profile")).status_code == 404
    assert await snapshot(db) == before


async def test_history_newest_first_filtered_and_paginated(client):
    cid = await _customer(client)
    await _answer(client, cid, "pets", "none", "2026-01-01T00:00:00Z")
    await _answer(client, cid, "budget", "low", "2026-02-01T00:00:00Z")
    await _answer(client, cid, "pets", "cat", "2026-03-01T00:00:00Z")
    url = f"/api/v1/customers/{cid}/profile-answers"
    page = (await client.get(url, params={"limit": 2})).json()
    assert [(a["question_key"], a["answer"]) for a in page["items"]] == [("pets", "cat"), ("budget", "low")]
    rest = (await client.get(url, params={"limit": 2, "cursor": page["next_cursor"]})).json()
    assert [(a["question_key"], a["answer"]) for a in rest["items"]] == [("pets", "none")]
    assert rest["next_cursor"] is None
    pets = (await client.get(url, params={"question_key": "pets"})).json()
    assert [a["answer"] for a in pets["items"]] == ["cat", "none"]
    reused = await client.get(url, params={"question_key": "pets", "cursor": page["next_cursor"]})
    assert reused.status_code == 400
    bad = await client.get(url, params={"question_key": "Bad Key"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["parameter"] == "question_key"


async def test_profile_is_the_latest_answer_per_question(client):
    cid = await _customer(client)
    other = await _customer(client)
    await _answer(client, cid, "pets", "cat", "2026-03-01T00:00:00Z", "email")
    await _answer(client, cid, "pets", "none", "2026-01-01T00:00:00Z")  # older, recorded later
    await _answer(client, cid, "budget", "high", "2026-02-01T00:00:00Z", "visit")
    await _answer(client, other, "pets", "dog")
    r = await client.get(f"/api/v1/customers/{cid}/profile")
    assert r.status_code == 200
    assert r.json() == {
        "customer_id": cid,
        "answers": [
            {"question_key": "budget", "answer": "high", "channel": "visit", "answered_at": "2026-02-01T00:00:00Z"},
            {"question_key": "pets", "answer": "cat", "channel": "email", "answered_at": "2026-03-01T00:00:00Z"},
        ],
    }
    empty = await client.get(f"/api/v1/customers/{await _customer(client)}/profile")
    assert empty.json()["answers"] == []
