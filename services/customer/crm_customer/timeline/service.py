"""Timeline rules: everything that happened with a customer, newest first, in one keyset-paged query."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.db import driver_connection
from crm_shared.pagination import decode_cursor, encode_cursor

from ..hygiene.service import live_customer_id
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
    session: AsyncSession, *, customer_id: uuid.UUID, kinds: list[str], cursor: str | None, limit: int, secret: str
) -> tuple[list[TimelineEntry], str | None]:
    live = await live_customer_id(session, customer_id, lock=None)
    binding = {"customer": str(live), "kinds": kinds}
    after = None
    if cursor:
        at, kind, entry_id = decode_cursor(cursor, binding, secret, shape=(datetime, str, str))
        after = (at, kind, entry_id)
    rows = await repository.page(await driver_connection(session), live, kinds, after, limit)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor([last["at"].isoformat(), last["kind"], last["id"]], binding, secret)
    entries = [
        TimelineEntry(at=r["at"], kind=r["kind"], id=r["id"], summary=r["summary"], data=msgspec.json.decode(r["data"]))
        for r in rows
    ]
    return entries, next_cursor
