"""The delivery worker, in the service process (every replica runs one). One pass:

1. Claim (one short transaction): due deliveries of active subscriptions, `FOR UPDATE SKIP LOCKED`, so two
   workers never take the same row; counting the attempt and leasing the row (its next attempt moves a
   lease ahead) in the same statement. Commit.
2. POST each body, signed with the subscription's secret (and the previous one during a rotation's
   overlap), outside any transaction: a slow receiver holds no row lock. Short timeout, redirects never
   followed, at most `response_excerpt_bytes` of the answer read; a host that resolves to a private address
   is not called (unless `allow_private_hosts`), and the connection goes to the address that was checked
   (crm_webhooks.deliveries.pinned_transport: no second lookup for DNS rebinding to answer).
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

import httpx
from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_shared.outbox import backoff_seconds
from crm_shared.polling import PollingWorker

from .. import signing
from ..config import Settings
from ..sealing import UnknownKey
from ..subscriptions import repository as subscriptions
from . import repository
from .pinned_transport import pinned_transport
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
        self._box = settings.secret_box()
        self._lease = timedelta(seconds=settings.delivery_timeout_seconds + 60)
        self._client = httpx.AsyncClient(
            timeout=settings.delivery_timeout_seconds,
            follow_redirects=False,
            transport=transport or pinned_transport(allow_private=settings.allow_private_hosts),
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
        """Delete the deliveries that succeeded longer ago than the retention (returns how many), and seal
        again under the first key the secrets sealed with an older one."""
        await self.reseal()
        before = datetime.now(UTC) - timedelta(days=self._settings.delivery_retention_days)
        async with self._sessions() as session, session.begin():
            return await repository.forget_succeeded(session, before)

    async def reseal(self) -> int:
        """After a key rotation (a new key first in WEBHOOKS_SECRET_KEYS), the stored secrets sealed with
        another key, sealed again under the new one; returns how many subscriptions changed."""
        async with self._sessions() as session, session.begin():
            resealed = 0
            for subscription in await subscriptions.sealed_with_other_keys(session, self._box.current):
                try:
                    current = self._box.reseal(subscription.secret_sealed)
                    previous = subscription.previous_secret_sealed
                    subscription.previous_secret_sealed = previous and self._box.reseal(previous)
                    subscription.secret_sealed = current
                    resealed += 1
                except UnknownKey:  # its key is gone from the settings: left as it is (its deliveries fail)
                    log.warning("subscription %s: secret sealed with a key not configured", subscription.id)
        if resealed:
            log.info("resealed the secrets of %d subscriptions under the current key", resealed)
        return resealed

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
        attempt = Attempt(row["id"], row["attempts"])
        expires = row["previous_secret_expires_at"]
        sealed = [row["secret_sealed"]]
        if row["previous_secret_sealed"] and expires is not None and expires > now:
            sealed.append(row["previous_secret_sealed"])
        try:
            secrets = [self._box.open(s) for s in sealed]
        except UnknownKey as exc:  # a key dropped from the settings too early: retried once it is back
            attempt.error = str(exc)
            return attempt
        body: bytes = row["body"]
        headers = signing.headers(secrets, webhook_id(row["id"]), int(time.time()), body)
        headers["content-type"] = "application/json"
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
