"""Timeline rules: everything that happened with a customer, newest first, in one keyset-paged query."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.db import driver_connection
from crm_shared.pagination import Page, PageRequest

from ..customers.service import live_customer_id
from . import repository
from .exceptions import UnknownKinds
from .schemas import KINDS, TimelineEntry


def parse_kinds(raw: str | None) -> list[str]:
    """A comma list of kinds (all when absent), in canonical order."""
    if raw is None or not raw.strip():
        return list(KINDS)
    asked = {k.strip() for k in raw.split(",") if k.strip()}
    unknown = sorted(asked - set(KINDS))
    if unknown or not asked:
        raise UnknownKinds(unknown or [raw], KINDS)
    return [k for k in KINDS if k in asked]


async def timeline(
    session: AsyncSession, *, customer_id: uuid.UUID, kinds: list[str], page: PageRequest
) -> Page[TimelineEntry]:
    live = await live_customer_id(session, customer_id, lock=None)
    binding = {"customer": str(live), "kinds": kinds}
    after = page.after(binding, shape=(datetime, str, str))
    rows = await repository.page(await driver_connection(session), live, kinds, after, page.limit + 1)
    items, next_cursor = page.cut(rows, binding, lambda r: [r["at"], r["kind"], r["id"]])
    entries = [
        TimelineEntry(at=r["at"], kind=r["kind"], id=r["id"], summary=r["summary"], data=msgspec.json.decode(r["data"]))
        for r in items
    ]
    return Page[TimelineEntry](items=entries, next_cursor=next_cursor)
