"""Postal mail and phone campaigns leave as batches over the API: a CSV print file or call list (personal
data: pii:read only) and call tasks with outcomes; the send-time rules are re-checked when a batch is made."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from crm_campaign.config import Settings
from crm_campaign.main import create_app
from crm_shared.testing import app_client, user_headers
from tests.campaign.test_delivery_worker import audience, delivery_settings, events, queued_campaign, recipients

SCOPES = ("campaigns:read", "campaigns:write")
MARKETER = user_headers("marketer-1", *SCOPES, service="campaign")
WITH_PII = user_headers("marketer-2", *SCOPES, "pii:read", service="campaign")


def idem() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_app(delivery_settings(settings)), headers=MARKETER) as client:
        yield client


async def test_a_mail_batch_hands_over_due_recipients_as_a_print_file(
    api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    ada = await audience(db, first_name="Ada", consent_mail="opted_in", display_name="Ada Lovelace", region="London")
    bob = await audience(db, first_name="Bob", consent_mail="opted_in", display_name="=HYPERLINK(1)", country="DE")
    eve = await audience(db, first_name="Eve", consent_mail="opted_in", display_name="Eve")
    campaign = await queued_campaign(db, [ada, bob, eve], channel="mail", subject=None)
    await db.execute("UPDATE audience_customers SET consent_mail = 'opted_out' WHERE customer_id = $1", eve)

    r = await api.post(f"/api/v1/campaigns/{campaign}/batches", json={}, headers=idem())

    assert r.status_code == 201, r.text
    batch = r.json()
    assert (batch["channel"], batch["size"], batch["created_by"]) == ("mail", 2, "marketer-1")
    assert r.headers["location"] == batch["csv_url"]
    rows = await recipients(db, campaign)
    assert {c: rows[c]["status"] for c in (ada, bob, eve)} == {ada: "sent", bob: "sent", eve: "suppressed"}
    assert rows[ada]["provider_ref"] == f"batch:{batch['id']}"
    assert rows[eve]["reason"] == "no_consent"
    assert await db.fetchval("SELECT count(*) FROM contact_log WHERE campaign_id = $1", campaign) == 2
    assert {e["subject"] for e in await events(db, "delivery.sent")} == {str(ada), str(bob)}

    assert (await api.get(batch["csv_url"])).status_code == 403  # names and addresses: pii:read only
    got = await api.get(batch["csv_url"], headers=WITH_PII)
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(got.text)))
    assert [(row["customer_id"], row["display_name"]) for row in table] == sorted(
        [(str(ada), "Ada Lovelace"), (str(bob), "'=HYPERLINK(1)")]  # a formula is shown as text
    )
    assert {row["region"] for row in table} == {"London", ""}

    listed = (await api.get(f"/api/v1/campaigns/{campaign}/batches")).json()
    assert [b["id"] for b in listed["items"]] == [batch["id"]]
    again = await api.post(f"/api/v1/campaigns/{campaign}/batches", json={}, headers=idem())
    assert again.status_code == 409  # nothing is due any more


async def test_batches_refuse_what_they_cannot_send(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    ada = await audience(db, first_name="Ada")
    email_campaign = await queued_campaign(db, [ada])
    r = await api.post(f"/api/v1/campaigns/{email_campaign}/batches", json={}, headers=idem())
    assert r.status_code == 409
    assert "delivery worker" in r.json()["detail"]
    assert (await api.post(f"/api/v1/campaigns/{uuid.uuid4()}/batches", json={}, headers=idem())).status_code == 404
    bad = await api.post(f"/api/v1/campaigns/{email_campaign}/batches", json={"limit": 0}, headers=idem())
    assert bad.status_code == 422
    assert "limit" in json.dumps(bad.json())
    assert (await recipients(db, email_campaign))[ada]["status"] == "queued"


async def test_a_call_list_makes_call_tasks_with_outcomes(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    ada = await audience(db, first_name="Ada", consent_phone="opted_in", phone="+4915112345678", display_name="Ada")
    bob = await audience(db, first_name="Bob", consent_phone="opted_in", phone="+4915187654321", display_name="Bob")
    campaign = await queued_campaign(db, [ada, bob], channel="phone", subject=None)

    batch = (await api.post(f"/api/v1/campaigns/{campaign}/batches", json={}, headers=idem())).json()
    assert batch["size"] == 2
    calls = list(csv.DictReader(io.StringIO((await api.get(batch["csv_url"], headers=WITH_PII)).text)))
    assert {row["phone"] for row in calls} == {"+4915112345678", "+4915187654321"}

    tasks = (await api.get(f"/api/v1/campaigns/{campaign}/call-tasks?status=open")).json()["items"]
    assert {t["customer_id"] for t in tasks} == {str(ada), str(bob)}
    assert {t["phone"] for t in tasks} == {"***78", "***21"}  # masked without pii:read
    shown = (await api.get(f"/api/v1/campaigns/{campaign}/call-tasks", headers=WITH_PII)).json()["items"]
    assert {t["phone"] for t in shown} == {"+4915112345678", "+4915187654321"}

    task = f"/api/v1/campaigns/{campaign}/call-tasks/{ada}"
    bad = await api.put(task, json={"outcome": "maybe"}, headers=idem())
    assert bad.status_code == 422
    assert "outcome" in json.dumps(bad.json())
    stale = await api.put(task, json={"outcome": "reached"}, headers={**idem(), "If-Match": '"7"'})
    assert stale.status_code == 412
    done = await api.put(task, json={"outcome": "reached", "notes": "will order next week"}, headers=idem())
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["outcome"], done.json()["done_by"]) == ("done", "reached", "marketer-1")
    assert done.headers["etag"] == '"2"'
    open_now = (await api.get(f"/api/v1/campaigns/{campaign}/call-tasks?status=open")).json()["items"]
    assert [t["customer_id"] for t in open_now] == [str(bob)]
    missing = await api.put(
        f"/api/v1/campaigns/{campaign}/call-tasks/{uuid.uuid4()}", json={"outcome": "reached"}, headers=idem()
    )
    assert missing.status_code == 404
