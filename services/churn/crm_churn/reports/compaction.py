"""The reports' periodic compaction every `rate_ledger_compact_seconds`: the churn-rate ledger (ledger.compact)
and the churned month totals (totals.compact), in one transaction under the ledger's compaction lock. Both
are only appended to by the writes, so without it they (and the reports' reads) would grow with every event."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from ..periodic import every
from . import ledger, totals


async def compact_ledger(sessionmaker: async_sessionmaker[Any]) -> None:
    async with sessionmaker() as session, session.begin():
        if await ledger.compact(session):
            await totals.compact(session)


lifespan = every("rate_ledger_compact_seconds", 300, compact_ledger, logging.getLogger("crm.churn.reports"))
