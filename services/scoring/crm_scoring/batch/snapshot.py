"""Backtest copies: every customer's scores as a backtest computed them, kept beside its run on request, so
the scores of a past date can be reproduced and segmented without touching the live ones. The run writes
them here; the API reads and drops them through repository.py, and exports them from here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_shared.db import driver_connection

from ..compute.write import SCORE_COLUMNS, reason_args, select_list, stage
from ..rules.schemas import Rules
from ..scores import service as scores_service
from ..scores.schemas import ScoreFilters
from .models import BatchRun, RunScore
from .schemas import RunScoreListItem

# Read beside the live list's fields for a copy's items.
RUN_LIST_FIELDS = ("expected_purchases", "expected_spend")

# The stored row's columns less the live table's own (stage_since, computed_at).
KEPT_COLUMNS = ", ".join(c for c in SCORE_COLUMNS.split(", ") if c not in ("stage_since", "computed_at"))


def _copy_sql(n_horizons: int) -> str:
    """$1.. as for select_list (no calibration: $2 is null), then $11 = the run."""
    return f"""
INSERT INTO {RunScore.__tablename__} (run_id, {KEPT_COLUMNS})
SELECT $11, {KEPT_COLUMNS} FROM (SELECT {select_list(n_horizons)} FROM staged_scores s) AS x({SCORE_COLUMNS})
"""


async def keep(
    session: AsyncSession,
    scored: dict[str, np.ndarray],
    *,
    run_id: int,
    rules: Rules,
    as_of: Any,
    segment_names: list[str],
    copy_chunk: int,
) -> int:
    """Copy the run's scores, in the session's transaction; returns the number of customers kept."""
    conn = await driver_connection(session)
    n_horizons = len(rules.clv.horizons_days)
    await stage(conn, scored, n_horizons, copy_chunk)
    status = await conn.execute(_copy_sql(n_horizons), as_of, None, segment_names, *reason_args(rules), run_id)
    return int(status.split()[-1])


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
