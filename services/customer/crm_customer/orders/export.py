"""The NDJSON export: every order by keyset on `seq`, pages read in short transactions so a long
download holds no snapshot or locks open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from crm_shared.db import asyncpg_connection
from crm_shared.ndjson import keyset_lines

from . import repository


def ndjson(
    engine: AsyncEngine, after: int, *, partner: str | None, since: datetime | None, page_size: int
) -> AsyncIterator[bytes]:
    async def page(last: int | None) -> list[tuple[int, str]]:
        async with engine.connect() as conn:
            raw = await asyncpg_connection(conn)
            rows = await repository.export_page(raw, last or 0, page_size, partner=partner, since=since)
        return [(r[0], r[1]) for r in rows]

    return keyset_lines(page, after=after, key=lambda r: r[0], line=lambda r: r[1], page_size=page_size)
