"""winback.opened / won / lost / merged from the churn service, applied to `winback_cases`.

Idempotent and order-safe: an opening fills what it knows and never reopens a closed case; a closing
sets the outcome whether or not the opening arrived first. A customer merge folds cases as churn does:
`winback.merged` ends the folded case (kept as a `merged` tombstone, which the segment field `winback` skips:
its work goes on in the case it joined, which now belongs to the survivor), and `customer.merged` moves the
merged customer's cases to the survivor, so the field reads the survivor's cases, whichever of the two events
arrives first. The tombstone also holds when the case's opening is applied after its merge (the inbox applies
a batch grouped by type, so a backlog can do that): an opening never changes a state, and a closing never
changes a merged one."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.db import driver_connection
from crm_shared.inbox import EventHandler
from crm_shared.schemas.churn import WinbackClosedData, WinbackMergedData, WinbackOpenedData
from crm_shared.schemas.events import CustomerMergedData

_OPENED = """
INSERT INTO winback_cases AS w (case_id, customer_id, state, strategy, opened_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[])
ON CONFLICT (case_id) DO UPDATE SET
    strategy = coalesce(EXCLUDED.strategy, w.strategy), opened_at = EXCLUDED.opened_at, updated_at = now()
"""
_CLOSED = """
INSERT INTO winback_cases AS w (case_id, customer_id, state, strategy, closed_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[])
ON CONFLICT (case_id) DO UPDATE SET
    state = EXCLUDED.state, closed_at = EXCLUDED.closed_at, strategy = coalesce(EXCLUDED.strategy, w.strategy),
    updated_at = now()
WHERE w.state <> 'merged'
"""


# The folded case ends; the case it joined is the survivor's (the statements commute with customer.merged).
_FOLDED = """
INSERT INTO winback_cases AS w (case_id, customer_id, state, closed_at)
SELECT t.case_id, t.customer_id, 'merged', t.closed_at
FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS t(case_id, customer_id, closed_at)
ON CONFLICT (case_id) DO UPDATE SET state = 'merged', closed_at = EXCLUDED.closed_at, updated_at = now()
"""
_JOINED = """
UPDATE winback_cases w SET customer_id = t.customer_id, updated_at = now()
FROM unnest($1::uuid[], $2::uuid[]) AS t(case_id, customer_id)
WHERE w.case_id = t.case_id AND w.customer_id <> t.customer_id
"""
_MOVED = """
UPDATE winback_cases w SET customer_id = t.survivor_id, updated_at = now()
FROM unnest($1::uuid[], $2::uuid[]) AS t(merged_id, survivor_id)
WHERE w.customer_id = t.merged_id
"""


async def on_opened(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    # One row per case in a statement (ON CONFLICT cannot touch a row twice): the last event wins.
    cases = list({c.case_id: c for c in (msgspec.convert(e["data"], WinbackOpenedData) for e in events)}.values())
    await (await driver_connection(session)).execute(
        _OPENED,
        [c.case_id for c in cases],
        [c.customer_id for c in cases],
        ["open"] * len(cases),
        [c.strategy for c in cases],
        [c.opened_at for c in cases],
    )


async def on_closed(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    cases = list({c.case_id: c for c in (msgspec.convert(e["data"], WinbackClosedData) for e in events)}.values())
    await (await driver_connection(session)).execute(
        _CLOSED,
        [c.case_id for c in cases],
        [c.customer_id for c in cases],
        [c.outcome for c in cases],
        [c.strategy for c in cases],
        [c.closed_at for c in cases],
    )


async def on_case_merged(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    merges = [msgspec.convert(e["data"], WinbackMergedData) for e in events]
    conn = await driver_connection(session)
    folded = list({m.case_id: m for m in merges}.values())  # one row per case in a statement
    await conn.execute(
        _FOLDED, [m.case_id for m in folded], [m.customer_id for m in folded], [m.closed_at for m in folded]
    )
    await conn.execute(_JOINED, [m.merged_into for m in merges], [m.customer_id for m in merges])


async def on_customer_merged(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    merges = [msgspec.convert(e["data"], CustomerMergedData) for e in events]
    conn = await driver_connection(session)
    await conn.execute(_MOVED, [m.merged_id for m in merges], [m.survivor_id for m in merges])


HANDLERS: dict[str, EventHandler] = {
    "winback.opened": on_opened,
    "winback.won": on_closed,
    "winback.lost": on_closed,
    "winback.merged": on_case_merged,
    "customer.merged": on_customer_merged,  # chained after the audience's (main.py combine_handlers)
}
