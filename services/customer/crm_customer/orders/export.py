"""The NDJSON export: every order by keyset on `seq`, pages read in short transactions so a long
download holds no snapshot or locks open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from crm_shared.db import asyncpg_connection

from . import repository


async def ndjson(
    engine: AsyncEngine, after: int, *, partner: str | None, since: datetime | None, page_size: int
) -> AsyncIterator[bytes]:
    last = after
    while True:
        async with engine.connect() as conn:
            raw = await asyncpg_connection(conn)
            rows = await repository.export_page(raw, last, page_size, partner=partner, since=since)
        if not rows:
            return
        last = rows[-1][0]
        yield ("\n".join(r[1] for r in rows) + "\n").encode()
        if len(rows) < page_size:
            return
