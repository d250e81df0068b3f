"""The periodic sweep that records passed windows as lost, run in the app's lifespan (the win-back router
carries it, so including the router starts it). Every `winback_sweep_seconds`, in batches, each in its
own transaction; several replicas can run it at once (the cases are taken with SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from . import service

log = logging.getLogger("crm.churn.winback")
BATCH = 500


async def sweep_all(sessionmaker: async_sessionmaker[Any]) -> int:
    """Sweep until no expired case is left; the number recorded lost."""
    total = 0
    while True:
        async with sessionmaker() as session, session.begin():
            swept = await service.sweep(session, batch=BATCH)
        total += swept
        if swept < BATCH:
            return total


async def _run(sessionmaker: async_sessionmaker[Any], interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            swept = await sweep_all(sessionmaker)
            if swept:
                log.info("win-back sweep: %d case(s) lost", swept)
        except Exception:  # a failed pass is retried at the next one
            log.exception("win-back sweep failed")


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Start the sweep once the app's own lifespan has built its engine; stop it on shutdown."""
    settings = app.state.settings
    interval = float(getattr(settings, "winback_sweep_seconds", 300))
    sessionmaker = getattr(app.state, "sessionmaker", None)
    task = None
    if sessionmaker is not None and interval > 0:
        task = asyncio.create_task(_run(sessionmaker, interval))
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
