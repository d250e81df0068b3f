"""The churn-rate ledger's periodic compaction (ledger.compact) every `rate_ledger_compact_seconds`:
tracked changes only append rows, so without it the ledger (and the report's scan) would grow with every
event."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from ..periodic import every
from . import ledger


async def compact_ledger(sessionmaker: async_sessionmaker[Any]) -> None:
    async with sessionmaker() as session, session.begin():
        await ledger.compact(session)


lifespan = every("rate_ledger_compact_seconds", 300, compact_ledger, logging.getLogger("crm.churn.reports"))
