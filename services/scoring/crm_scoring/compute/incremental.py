"""Incremental rescoring: the customers an event touched, with the current rules, formula and calibration,
through the same scoring and write code as the batch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.db import driver_connection

from .score import score
from .state import load_state
from .summary import read_summaries
from .write import WriteResult, write_scores


async def rescore(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID], *, as_of: datetime | None = None
) -> WriteResult | None:
    """Recompute and store the scores of these customers as of `as_of` (default now)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return None
    as_of = as_of or datetime.now(UTC)
    state = await load_state(session)
    conn = await driver_connection(session)
    summaries = await read_summaries(
        conn, as_of, trend_window_days=state.rules.clv.trend_window_days, customers=ids, tenant=state.rules.tenant
    )
    if len(summaries) == 0:
        return None
    scored = score(summaries, state.rules, state.formula_version, state.formula, state.calibration)
    return await write_scores(
        session,
        scored,
        as_of=as_of,
        rules=state.rules,
        calibration_id=state.calibration.id,
        cause="event",
        segment_names=state.segment_names,
    )
