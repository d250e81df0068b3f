"""Backtest copies: every customer's scores as a backtest computed them, kept beside its run on request, so
the scores of a past date can be reproduced and segmented without touching the live ones. The run writes
them here; the API reads and drops them through repository.py, and exports them from here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_shared.db import driver_connection

from ..compute.binary_copy import binary_timestamp
from ..compute.stored import KEPT_COLUMNS, Context, copy_rows
from ..rules.schemas import Rules
from ..scores import service as scores_service
from ..scores.schemas import ScoreFilters
from .models import BatchRun, RunScore
from .schemas import RunScoreListItem

# Read beside the live list's fields for a copy's items.
RUN_LIST_FIELDS = ("expected_purchases", "expected_spend")


async def keep(
    session: AsyncSession,
    scored: dict[str, np.ndarray],
    *,
    run_id: int,
    rules: Rules,
    as_of: datetime,
    segment_names: list[str],
    copy_chunk: int,
) -> int:
    """Copy the run's scores (their stored forms, without calibration: a backtest keeps none), in the
    session's transaction; returns the number of customers kept."""
    conn = await driver_connection(session)
    context = Context(binary_timestamp(as_of), None, segment_names, rules)
    await copy_rows(
        conn, RunScore.__tablename__, scored, context, columns=KEPT_COLUMNS, copy_chunk=copy_chunk, run_id=run_id
    )
    return len(scored["customer_id"])


def run_item(run: BatchRun) -> Callable[[Row[Any]], RunScoreListItem]:
    """A copy's list item: expected purchases keyed by the run's horizons (stats.horizons_days)."""
    horizons = run.stats.get("horizons_days", [])

    def item(row: Row[Any]) -> RunScoreListItem:
        expected = scores_service.per_horizon(horizons, row.expected_purchases)
        return RunScoreListItem.model_validate({**row._mapping, "expected_purchases": expected})

    return item


def export(
    sessions: async_sessionmaker[AsyncSession], run: BatchRun, filters: ScoreFilters, after: Any
) -> AsyncIterator[bytes]:
    """The NDJSON export of a run's kept copy: the copy's list items the filters select, by customer id."""
    return scores_service.export_lines(
        sessions,
        filters,
        after,
        model=RunScore,
        scope=[RunScore.run_id == run.id],
        extra_fields=RUN_LIST_FIELDS,
        to_item=run_item(run),
    )
