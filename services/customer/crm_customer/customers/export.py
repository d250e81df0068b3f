"""The NDJSON customer export: every customer the caller may see (merged ones included, with
`merged_into`), by keyset on id, each as the customer API reads it. Pages are read in short sessions, so a
long download holds no snapshot or locks open. Another service's bulk copy (the campaign service's
audience) reads it instead of paging the list 100 at a time."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from crm_shared.auth import Principal
from crm_shared.ndjson import keyset_lines
from crm_shared.pii import set_pii_visible

from .models import Customer
from .repository import visible_to
from .service import to_read


async def ndjson(
    sessions: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    after: uuid.UUID | None,
    since: datetime | None,
    page_size: int,
    show_pii: bool,
) -> AsyncIterator[bytes]:
    # The body is written after the handler returned: say again whether personal data shows.
    set_pii_visible(show_pii)

    async def page(last: uuid.UUID | None) -> list[tuple[uuid.UUID, str]]:
        stmt = select(Customer).where(visible_to(principal)).options(selectinload(Customer.external_refs))
        if last is not None:
            stmt = stmt.where(Customer.id > last)
        if since is not None:
            stmt = stmt.where(Customer.updated_at >= since)
        async with sessions() as session:
            rows = (await session.execute(stmt.order_by(Customer.id).limit(page_size))).scalars()
            return [(c.id, to_read(c, principal).model_dump_json()) for c in rows]

    async for chunk in keyset_lines(page, after=after, key=lambda r: r[0], line=lambda r: r[1], page_size=page_size):
        yield chunk
