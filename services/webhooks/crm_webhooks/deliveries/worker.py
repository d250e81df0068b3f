"""The delivery worker, in the service process (every replica runs one). One pass:

1. Claim (one short transaction): due deliveries of active subscriptions, `FOR UPDATE SKIP LOCKED`, so two
   workers never take the same row; counting the attempt and leasing the row (its next attempt moves a
   lease ahead) in the same statement. Commit.
2. POST each body, signed with the subscription's secret (and the previous one during a rotation's
   overlap), outside any transaction: a slow receiver holds no row lock. Short timeout, redirects never
   followed, at most `response_excerpt_bytes` of the answer read; a host that resolves to a private address
   is not called (unless `allow_private_hosts`).
3. Record (one statement): 2xx succeeded; anything else failed, retried after a random delay in
   [0, min(cap, base * 2^attempts)] (full jitter, crm_shared.outbox.backoff_seconds), dead after
   `max_attempts`.

A worker that dies between 1 and 3 leaves its rows leased: they are due again when the lease ends (so a
receiver may get a delivery twice, with the same webhook-id: its idempotency key)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_shared.outbox import backoff_seconds
from crm_shared.polling import PollingWorker

from .. import signing
from ..config import Settings
from ..subscriptions.rules import resolves_privately
from . import repository
from .schemas import webhook_id

log = logging.getLogger("crm.webhooks.delivery")
# On the service's /metrics: what became of each attempt, and how long receivers took to answer.
ATTEMPTS = Counter(
    "crm_webhook_delivery_attempts",
    "Webhook delivery attempts by outcome: succeeded, failed (retried later) or dead (given up)",
    ["outcome"],
)
RECEIVER_SECONDS = Histogram(
    "crm_webhook_receiver_seconds",
    "Time from sending a webhook delivery to the receiver's answer (timeouts excluded)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
)
USER_AGENT = "crm-webhooks/1 (Standard Webhooks 1.0)"
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # PostgreSQL refuses NUL in text


@dataclass
class Attempt:
    id: Any
    attempts: int
    code: int | None = None
    error: str | None = None
    response: str | None = None

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


@dataclass
class PassResult:
    claimed: int = 0
    succeeded: int = 0
    failed: int = 0
    dead: int = 0


def _storable(text: str, limit: int) -> str:
    return _UNSTORABLE.sub("\ufffd", text[:limit])


class DeliveryWorker(PollingWorker):
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # Stopping waits for the pass under way: its sends are bounded by one delivery timeout.
        super().__init__(
            name="webhook-delivery",
            poll_seconds=settings.worker_poll_seconds,
            stop_grace_seconds=settings.delivery_timeout_seconds + 5,
            log=log,
        )
        self._sessions = sessionmaker
        self._settings = settings
        self._lease = timedelta(seconds=settings.delivery_timeout_seconds + 60)
        self._client = httpx.AsyncClient(
            timeout=settings.delivery_timeout_seconds,
            follow_redirects=False,
            transport=transport,
            headers={"user-agent": USER_AGENT},
            trust_env=False,  # no proxy or .netrc from the environment: the receiver is the partner's URL
        )
        self._next_cleanup = 0.0  # monotonic time of the next cleanup

    async def pass_once(self) -> bool:
        if time.monotonic() >= self._next_cleanup:
            self._next_cleanup = time.monotonic() + self._settings.cleanup_interval_seconds
            await self.cleanup()
        return (await self.run_once()).claimed > 0

    async def close(self) -> None:
        await self._client.aclose()

    async def cleanup(self) -> int:
        """Delete the deliveries that succeeded longer ago than the retention; returns how many."""
        before = datetime.now(UTC) - timedelta(days=self._settings.delivery_retention_days)
        async with self._sessions() as session, session.begin():
            return await repository.forget_succeeded(session, before)

    # -- one pass ----------------------------------------------------------------------------------------
    async def run_once(self) -> PassResult:
        now = datetime.now(UTC)
        async with self._sessions() as session, session.begin():
            rows = await repository.claim(session, now, self._settings.worker_batch_size, now + self._lease)
        if not rows:
            return PassResult()
        limit = asyncio.Semaphore(self._settings.worker_concurrency)

        async def send(row: Any) -> Attempt:
            async with limit:
                return await self._send(row, now)

        attempts = await asyncio.gather(*(send(row) for row in rows))
        return await self._record(attempts)

    async def _send(self, row: Any, now: datetime) -> Attempt:
        secrets = [row["secret"]]
        expires = row["previous_secret_expires_at"]
        if row["previous_secret"] and expires is not None and expires > now:
            secrets.append(row["previous_secret"])
        body: bytes = row["body"]
        headers = signing.headers(secrets, webhook_id(row["id"]), int(time.time()), body)
        headers["content-type"] = "application/json"
        attempt = Attempt(row["id"], row["attempts"])
        host = urlsplit(row["url"]).hostname or ""
        if not self._settings.allow_private_hosts and await resolves_privately(host):
            attempt.error = f"{host} resolves to a private, loopback or link-local address: not called"
            return attempt
        limit = self._settings.response_excerpt_bytes
        location = None
        started = time.monotonic()
        try:
            async with self._client.stream("POST", row["url"], content=body, headers=headers) as response:
                RECEIVER_SECONDS.observe(time.monotonic() - started)
                attempt.code = response.status_code
                location = response.headers.get("location")
                excerpt = b""
                async for chunk in response.aiter_bytes():
                    excerpt += chunk
                    if len(excerpt) >= limit:
                        break
                attempt.response = _storable(excerpt[:limit].decode(errors="replace"), limit) or None
        except httpx.TimeoutException:
            attempt.error = f"no answer within {self._settings.delivery_timeout_seconds:g} s"
        except httpx.HTTPError as exc:
            attempt.error = _storable(f"{type(exc).__name__}: {exc}", 500)
        if attempt.code is not None and not attempt.ok:
            redirect = location is not None and 300 <= attempt.code < 400
            detail = f" to {location} (redirects are not followed)" if redirect else ""
            attempt.error = _storable(f"answered {attempt.code}{detail}", 500)
        return attempt

    async def _record(self, attempts: list[Attempt]) -> PassResult:
        s = self._settings
        now = datetime.now(UTC)
        result = PassResult(claimed=len(attempts))
        outcomes = []
        for a in attempts:
            if a.ok:
                status, due = "succeeded", now
                result.succeeded += 1
            elif a.attempts >= s.max_attempts:
                status, due = "dead", now
                result.dead += 1
            else:
                delay = backoff_seconds(a.attempts, base=s.backoff_base_seconds, cap=s.backoff_cap_seconds)
                status, due = "failed", now + timedelta(seconds=delay)
                result.failed += 1
            outcomes.append((a.id, a.attempts, status, due, a.code, a.error, a.response, now))
            ATTEMPTS.labels(status).inc()
        async with self._sessions() as session, session.begin():
            await repository.record(session, outcomes)
        return result
