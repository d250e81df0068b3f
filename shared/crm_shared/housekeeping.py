"""Periodic clean-up every service runs: expired idempotency keys, outbox messages delivered long
ago, and inbox ids older than any redelivery can be. One replica at a time (advisory lock), in
bounded batches so a large backlog never holds long locks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("crm.housekeeping")
BATCH = 10_000

_STATEMENTS = {
    "idempotency_keys": "DELETE FROM idempotency_keys WHERE ctid IN "
    "(SELECT ctid FROM idempotency_keys WHERE expires_at < now() LIMIT :batch)",
    "outbox_messages": "DELETE FROM outbox_messages WHERE ctid IN (SELECT ctid FROM outbox_messages "
    "WHERE delivered_at < now() - make_interval(days => :outbox_days) LIMIT :batch)",
    # Inbox ids must outlive every redelivery: the relay gives up after hours, these stay for weeks.
    "inbox_events": "DELETE FROM inbox_events WHERE ctid IN (SELECT ctid FROM inbox_events "
    "WHERE received_at < now() - make_interval(days => :inbox_days) LIMIT :batch)",
}


@dataclass(frozen=True)
class Retention:
    outbox_days: int = 7
    inbox_days: int = 30


async def run_once(engine: AsyncEngine, retention: Retention) -> dict[str, int]:
    """Delete what is due; return rows deleted per table (empty when another replica holds the lock)."""
    deleted: dict[str, int] = {}
    async with engine.begin() as conn:
        if not await conn.scalar(text("SELECT pg_try_advisory_xact_lock(hashtext('crm_housekeeping'))")):
            return deleted
        params = {"batch": BATCH, "outbox_days": retention.outbox_days, "inbox_days": retention.inbox_days}
        for table, sql in _STATEMENTS.items():
            total = 0
            while True:
                n = (await conn.execute(text(sql), params)).rowcount or 0
                total += n
                if n < BATCH:
                    break
            deleted[table] = total
    return deleted


class Housekeeper:
    def __init__(self, engine: AsyncEngine, retention: Retention, interval_seconds: float) -> None:
        self._engine, self._retention, self._interval = engine, retention, interval_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                deleted = await run_once(self._engine, self._retention)
                if any(deleted.values()):
                    log.info("housekeeping deleted %s", deleted)
            except Exception:
                log.exception("housekeeping pass failed")
