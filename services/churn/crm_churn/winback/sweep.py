"""The periodic sweep that records passed windows as lost, run in the app's lifespan (the win-back router
carries it, so including the router starts it). Every `winback_sweep_seconds`, in batches, each in its
own transaction; several replicas can run it at once (the cases are taken with SKIP LOCKED). Each pass then
compacts the report's month totals (totals.compact)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from ..periodic import every
from . import service, totals

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


async def _sweep_and_log(sessionmaker: async_sessionmaker[Any]) -> None:
    swept = await sweep_all(sessionmaker)
    if swept:
        log.info("win-back sweep: %d case(s) lost", swept)
    # The report's month totals are only appended to by the writes: fold them at the same pace.
    async with sessionmaker() as session, session.begin():
        await totals.compact(session)


lifespan = every("winback_sweep_seconds", 300, _sweep_and_log, log)
