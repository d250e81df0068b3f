"""winback.opened / winback.won / winback.lost from the churn service, applied to `winback_cases`.

Idempotent and order-safe: an opening fills what it knows and never reopens a closed case; a closing
sets the outcome whether or not the opening arrived first."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.db import driver_connection
from crm_shared.inbox import EventHandler
from crm_shared.schemas.churn import WinbackClosedData, WinbackOpenedData

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


HANDLERS: dict[str, EventHandler] = {
    "winback.opened": on_opened,
    "winback.won": on_closed,
    "winback.lost": on_closed,
}
