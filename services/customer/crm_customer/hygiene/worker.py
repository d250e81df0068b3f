"""The name groups' background refresh (issue 13), in the service process (every replica runs one): each pass
recomputes the kept groups of up to COMPANY_BATCH marked companies in one short transaction
(service.refresh_name_groups) and passes follow one another while marks are left, so a large import is caught
up in small transactions and the duplicates listing never recomputes. Two replicas share the work: a company
is taken by one worker at a time (SKIP LOCKED marks plus a per-company advisory lock, repository.py).

Woken when companies are marked: customer writes mark companies by trigger on any path (migration 0008), and a
statement adding marks notifies MARKED when it commits (migration 0009), which the worker LISTENs to on a
connection of its own, so every replica hears every write. It also polls (`name_groups_poll_seconds`), which
covers a notification lost while its connection was down (it is opened again at the next pass).

A catch-up must not slow the process's requests (they share its event loop and the database): the comparisons
run on the loop in short slices (service._clusters_of), bounded in C (names.py), and the worker rests between
passes (REST_PER_PASS).

Started by the lifespan of the hygiene router (FastAPI merges a router's lifespan into the app's, after the
app's own has opened the database), stopped before the database closes. CUSTOMER_NAME_GROUPS_WORKER=false
turns it off (a test then drives passes itself)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm_shared.db import asyncpg_connection
from crm_shared.event_metrics import DatabaseGauge
from crm_shared.polling import PollingWorker

from ..config import Settings
from .repository import PENDING_COMPANIES
from .service import COMPANY_BATCH, refresh_name_groups

log = logging.getLogger("crm.customer.name_groups")
MARKED = "crm_name_group_marks"  # the channel migration 0009's trigger notifies
# After a pass that recomputed companies the worker rests this many times as long as the pass took: a catch-up
# then takes at most half of the process (and of the database's work) and leaves the rest to requests.
REST_PER_PASS = 1.0

GAUGES = (
    DatabaseGauge(
        "crm_customer_name_groups_pending_companies",
        "Companies whose duplicate name groups wait for the background refresh (the duplicates list answers them "
        "as they were before their change)",
        PENDING_COMPANIES,
    ),
)


class NameGroupsWorker(PollingWorker):
    def __init__(
        self, engine: AsyncEngine, *, poll_seconds: float, companies: int = COMPANY_BATCH, rest: float = REST_PER_PASS
    ) -> None:
        # A pass is one short transaction: stopping waits for it.
        super().__init__(name="name-groups", poll_seconds=poll_seconds, stop_grace_seconds=10, log=log)
        self._engine = engine
        self._companies = companies
        self._rest = rest
        self._listening: tuple[AsyncConnection, asyncpg.Connection] | None = None
        self.refreshed = 0  # companies recomputed by this worker (tests, logs)

    async def pass_once(self) -> bool:
        await self._listen()
        started = time.perf_counter()
        async with self._engine.connect() as connection:
            n = await refresh_name_groups(await asyncpg_connection(connection), self._companies)
        self.refreshed += n
        if n:
            await asyncio.sleep((time.perf_counter() - started) * self._rest)
        return n > 0

    async def close(self) -> None:
        await self._unlisten()

    def _notified(self, *_: Any) -> None:
        self.wake()

    async def _listen(self) -> None:
        """LISTEN on a connection held for the purpose; opened again at the next pass when it was lost."""
        if self._listening is not None and not self._listening[1].is_closed():
            return
        await self._unlisten()
        held = await self._engine.connect()
        try:
            raw = await asyncpg_connection(held)
            await raw.add_listener(MARKED, self._notified)
        except BaseException:
            await held.close()
            raise
        self._listening = held, raw

    async def _unlisten(self) -> None:
        if self._listening is None:
            return
        held, raw = self._listening
        self._listening = None
        try:
            if not raw.is_closed():
                await raw.remove_listener(MARKED, self._notified)  # UNLISTEN before the pool takes it back
        finally:
            await held.close()


@asynccontextmanager
async def name_groups_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    app.state.name_groups_worker = None
    if not settings.name_groups_worker:
        yield
        return
    app.state.name_groups_worker = worker = NameGroupsWorker(
        app.state.engine, poll_seconds=settings.name_groups_poll_seconds
    )
    worker.start()
    try:
        yield
    finally:
        await worker.stop()
