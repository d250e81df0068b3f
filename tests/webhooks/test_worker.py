"""The delivery worker on real PostgreSQL, against an in-process receiver (httpx.MockTransport) whose
every request is checked with the reference library (`standardwebhooks`): signatures, a webhook-id stable
across retries, the backoff schedule, dead letters and replays, the rotation overlap, paused
subscriptions, and two workers never sending one delivery twice."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from crm_shared.testing import app_client
from crm_webhooks.config import Settings
from crm_webhooks.deliveries.worker import DeliveryWorker
from crm_webhooks.main import create_app
from tests.webhooks.conftest import ADMIN, publish, subscribe, write
from tests.webhooks.test_fan_out import lifecycle

SUBS = "/api/v1/webhooks/subscriptions"


@dataclass
class Receiver:
    """Answers each request with the next scripted status (204 once the script is done)."""

    script: list[int] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    delay: float = 0.0
    answer: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        return httpx.Response(self.script.pop(0) if self.script else 204, content=self.answer, headers=self.headers)

    def worker(self, app: FastAPI, settings: Settings) -> DeliveryWorker:
        return DeliveryWorker(app.state.sessionmaker, settings, transport=httpx.MockTransport(self))


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    application = create_app(settings)
    async with app_client(application, headers=ADMIN) as client:
        yield application, client


def verified(secret: str, request: httpx.Request) -> Any:
    return Webhook(secret).verify(request.content, dict(request.headers))


async def _only_delivery(db: asyncpg.Connection) -> asyncpg.Record:
    row = await db.fetchrow("SELECT status, last_status_code, last_error FROM webhook_deliveries")
    assert row is not None
    return row


async def _due_now(db: asyncpg.Connection) -> None:
    await db.execute("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE status IN ('pending', 'failed')")


async def test_signed_delivery_verified_by_the_reference_library(
    app: tuple[FastAPI, httpx.AsyncClient], settings: Settings, db: asyncpg.Connection
) -> None:
    application, client = app
    sub = await subscribe(client, url="https://receiver.example/in")
    sent = lifecycle("decline")
    await publish(client, sent)
    receiver = Receiver()
    worker = receiver.worker(application, settings)
    result = await worker.run_once()
    await worker.stop()
    assert (result.claimed, result.succeeded) == (1, 1)
    [request] = receiver.requests
    assert str(request.url) == "https://receiver.example/in"
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    payload = verified(sub["secret"], request)
    assert payload == {
        "type": "lifecycle.changed",
        "timestamp": sent["time"],
        "data": sent["data"],
        "event_id": sent["id"],
    }
    row = await db.fetchrow("SELECT id, status, attempts, last_status_code, succeeded_at FROM webhook_deliveries")
    assert request.headers["webhook-id"] == f"msg_{row['id'].hex}"
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("succeeded", 1, 204)
    assert row["succeeded_at"] is not None
    assert (await worker.run_once()).claimed == 0  # nothing due
    # A tampered body or another secret does not verify.
    with pytest.raises(WebhookVerificationError):
        Webhook(sub["secret"]).verify(request.content + b" ", dict(request.headers))


async def test_retries_back_off_with_jitter_then_die_and_replay(
    app: tuple[FastAPI, httpx.AsyncClient], settings: Settings, db: asyncpg.Connection
) -> None:
    application, client = app
    sub = await subscribe(client)
    await publish(client, lifecycle("decline"))
    receiver = Receiver(script=[500, 503, 502], answer=b"\x00boom" + b"x" * 5000)
    worker = receiver.worker(application, settings)
    base, cap = settings.backoff_base_seconds, settings.backoff_cap_seconds
    for attempt in (1, 2):
        before = datetime.now(UTC)
        assert (await worker.run_once()).failed == 1
        row = await db.fetchrow("SELECT * FROM webhook_deliveries")
        assert (row["status"], row["attempts"]) == ("failed", attempt)
        wait = (row["next_attempt_at"] - before).total_seconds()
        assert 0 <= wait <= min(cap, base * 2**attempt) + 1  # full jitter within the exponential bound
        assert row["last_status_code"] in (500, 503)
        assert row["last_error"].startswith("answered 5")
        assert len(row["last_response"]) == settings.response_excerpt_bytes
        assert "\x00" not in row["last_response"]
        await _due_now(db)
    assert (await worker.run_once()).dead == 1  # the third attempt is the last (max_attempts=3)
    metrics = (await client.get("/metrics")).text
    assert 'crm_webhook_delivery_attempts_total{outcome="dead"}' in metrics
    assert "crm_webhook_receiver_seconds_bucket" in metrics
    assert await db.fetchval("SELECT status FROM webhook_deliveries") == "dead"
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(receiver.requests) == 3
    assert len(ids) == 1
    for request in receiver.requests:
        verified(sub["secret"], request)

    url = f"{SUBS}/{sub['id']}/deliveries"
    listed = (await client.get(url, params={"status": "dead"})).json()["items"]
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in listed] == [("dead", 3, 502)]
    assert listed[0]["webhook_id"] in ids
    delivery = listed[0]["id"]
    replayed = await client.post(f"{url}/{delivery}/replay", headers=write("replay-1"))
    assert replayed.status_code == 200
    assert replayed.json()["status"] == "pending"
    assert replayed.json()["attempts"] == 0
    again = await client.post(f"{url}/{delivery}/replay", headers=write("replay-2"))
    assert again.status_code == 409  # no longer dead
    assert (await worker.run_once()).succeeded == 1
    assert receiver.requests[-1].headers["webhook-id"] in ids
    assert await db.fetchval("SELECT status FROM webhook_deliveries") == "succeeded"
    await worker.stop()


async def test_replay_all_dead_deliveries_of_a_subscription(
    app: tuple[FastAPI, httpx.AsyncClient], settings: Settings, db: asyncpg.Connection
) -> None:
    application, client = app
    sub = await subscribe(client, event_types=["lifecycle.changed"])
    other = await subscribe(client, event_types=["lifecycle.changed"])
    await publish(client, lifecycle("decline"), lifecycle("growth"))
    await db.execute("UPDATE webhook_deliveries SET status = 'dead', attempts = 3")
    r = await client.post(f"{SUBS}/{sub['id']}/deliveries/replay", headers=write("all"))
    assert r.status_code == 200
    assert r.json() == {"replayed": 2}
    counts = dict(
        await db.fetch(
            "SELECT subscription_id::text, count(*) FILTER (WHERE status = 'pending') "
            "FROM webhook_deliveries GROUP BY 1"
        )
    )
    assert counts == {sub["id"]: 2, other["id"]: 0}
    receiver = Receiver()
    worker = receiver.worker(application, settings)
    assert (await worker.run_once()).succeeded == 2
    await worker.stop()


async def test_redirects_timeouts_and_refusals_are_failures(
    app: tuple[FastAPI, httpx.AsyncClient], settings: Settings, db: asyncpg.Connection
) -> None:
    application, client = app
    await subscribe(client)
    await publish(client, lifecycle("decline"))
    receiver = Receiver(script=[302], headers={"location": "https://elsewhere.example/"})
    worker = receiver.worker(application, settings)
    await worker.run_once()
    await worker.stop()
    row = await _only_delivery(db)
    assert row["status"] == "failed"
    assert row["last_status_code"] == 302
    assert "redirects are not followed" in row["last_error"]
    assert len(receiver.requests) == 1

    async def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    await _due_now(db)
    worker = DeliveryWorker(application.state.sessionmaker, settings, transport=httpx.MockTransport(slow))
    await worker.run_once()
    await worker.stop()
    row = await _only_delivery(db)
    assert row["status"] == "failed"
    assert row["last_status_code"] is None
    assert row["last_error"].startswith("no answer")


async def test_rotation_overlap_signs_with_both_secrets_then_the_new_only(
    app: tuple[FastAPI, httpx.AsyncClient], settings: Settings, db: asyncpg.Connection
) -> None:
    application, client = app
    sub = await subscribe(client)
    old = sub["secret"]
    new = (
        await client.post(f"{SUBS}/{sub['id']}/rotate-secret", json={"overlap_seconds": 3600}, headers=write("r"))
    ).json()["secret"]
    receiver = Receiver()
    worker = receiver.worker(application, settings)
    await publish(client, lifecycle("decline"))
    await worker.run_once()
    during = receiver.requests[-1]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    verified(old, during)
    verified(new, during)
    # The overlap ends: the old secret no longer signs.
    await db.execute("UPDATE webhook_subscriptions SET previous_secret_expires_at = now() - interval '1 second'")
    await publish(client, lifecycle("growth"))
    await worker.run_once()
    after = receiver.requests[-1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    verified(new, after)
    with pytest.raises(WebhookVerificationError):
        verified(old, after)
    await worker.stop()


async def test_paused_subscriptions_hold_their_deliveries(
    app: tuple[FastAPI, httpx.AsyncClient], settings: Settings, db: asyncpg.Connection
) -> None:
    application, client = app
    sub = await subscribe(client)
    await client.post(f"{SUBS}/{sub['id']}/pause", headers=write("pause"))
    await publish(client, lifecycle("decline"))
    receiver = Receiver()
    worker = receiver.worker(application, settings)
    assert (await worker.run_once()).claimed == 0
    await client.post(f"{SUBS}/{sub['id']}/resume", headers=write("resume"))
    assert (await worker.run_once()).succeeded == 1
    await worker.stop()


async def test_a_ping_is_a_signed_delivery(app: tuple[FastAPI, httpx.AsyncClient], settings: Settings) -> None:
    application, client = app
    sub = await subscribe(client)
    r = await client.post(f"{SUBS}/{sub['id']}/ping", headers=write("ping"))
    assert r.status_code == 202
    assert r.json()["event_type"] == "webhook.ping"
    receiver = Receiver()
    worker = receiver.worker(application, settings)
    await worker.run_once()
    await worker.stop()
    assert verified(sub["secret"], receiver.requests[0])["data"]["subscription_id"] == sub["id"]
    got = (await client.get(f"{SUBS}/{sub['id']}/deliveries/{r.json()['id']}")).json()
    assert got["status"] == "succeeded"
    assert got["webhook_id"] == receiver.requests[0].headers["webhook-id"]


async def test_two_workers_never_send_one_delivery_twice(
    app: tuple[FastAPI, httpx.AsyncClient], settings: Settings, db: asyncpg.Connection
) -> None:
    application, client = app
    await subscribe(client)
    await publish(client, *(lifecycle("decline") for _ in range(40)))
    receiver = Receiver(delay=0.05)
    small = settings.model_copy(update={"worker_batch_size": 7})
    workers = [receiver.worker(application, small) for _ in range(2)]

    async def drain(worker: DeliveryWorker) -> int:
        sent = 0
        while claimed := (await worker.run_once()).claimed:
            sent += claimed
        return sent

    counts = await asyncio.gather(*(drain(w) for w in workers))
    for worker in workers:
        await worker.stop()
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert sum(counts) == 40
    assert len(ids) == len(set(ids)) == 40
    assert all(counts)  # both took a share
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'") == 40


async def test_succeeded_deliveries_are_forgotten_after_the_retention(
    app: tuple[FastAPI, httpx.AsyncClient], settings: Settings, db: asyncpg.Connection
) -> None:
    application, client = app
    await subscribe(client)
    await publish(client, lifecycle("decline"), lifecycle("growth"))
    receiver = Receiver(script=[204, 500])
    worker = receiver.worker(application, settings)
    await worker.run_once()
    await db.execute(
        "UPDATE webhook_deliveries SET succeeded_at = now() - interval '31 days' WHERE status = 'succeeded'"
    )
    assert await worker.cleanup() == 1
    await worker.stop()
    assert [r["status"] for r in await db.fetch("SELECT status FROM webhook_deliveries")] == ["failed"]
    assert await db.fetchval("SELECT count(*) FROM webhook_messages") == 1  # the other one's body went with it


async def test_a_host_that_resolves_inside_is_not_called(
    app: tuple[FastAPI, httpx.AsyncClient], settings: Settings, db: asyncpg.Connection
) -> None:
    application, client = app
    await subscribe(client, url="https://receiver.example/in")
    # Written past the API's check (as a DNS name later pointed inside would be): localhost resolves to loopback.
    await db.execute("UPDATE webhook_subscriptions SET url = 'https://localhost/in'")
    await publish(client, lifecycle("decline"))
    strict = settings.model_copy(update={"allow_private_hosts": False})
    worker = DeliveryWorker(application.state.sessionmaker, strict)  # the real transport: resolves, vets
    assert (await worker.run_once()).failed == 1
    await worker.stop()
    row = await _only_delivery(db)
    assert row["status"] == "failed"
    assert row["last_status_code"] is None
    assert "localhost resolves to a private" in row["last_error"]
