"""The live scores as the batch's read saw them, so the batch can decide on the client what it used to join for
on the server: each customer's `stage_since` (kept while the stage stays), which customers may have changed
materially (only those go through the exact SQL diff), and which live rows no batch row replaces.

Read in the read's snapshot. A row an event writes after it is stamped at or after the read's start and is
taken over from the live table by the swap's catch-up anyway, whatever was decided for it here.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import numpy as np

from ..rules.schemas import Changes
from ..scores.models import STAGES
from .binary_copy import copy_out
from .cents import NO_CENTS, cents
from .summary import id_halves, row_estimate
from .swap import TABLE

_COLUMNS = (
    ("customer_id", "uuid"),
    ("stage", "int2"),  # index in STAGES
    ("stage_since", "timestamptz"),
    ("composite", "int8"),  # cents
    ("clv", "int8"),  # cents, NO_CENTS for none
    ("p_alive", "float8"),  # NaN for none
    ("abc", "int2"),  # as scored: 1..3 for C, B, A; 0 for none
    ("segment", "int2"),  # as scored: index in the segment names, -1 for none or a name no longer defined
    ("gold", "bool"),
    ("drag", "bool"),
)
_SQL = f"""
SELECT customer_id, (array_position($1::text[], stage::text) - 1)::int2, stage_since,
       (composite_score * 100)::int8, coalesce((clv * 100)::int8, {NO_CENTS}), coalesce(p_alive, 'NaN'),
       coalesce(array_position(ARRAY['C', 'B', 'A'], abc_class::text), 0)::int2,
       (coalesce(array_position($2::text[], rfm_segment::text), 0) - 1)::int2, gold, drag
FROM {TABLE}
"""


@dataclass(frozen=True)
class Prior:
    """Live score rows (columns of `_COLUMNS`), in no particular order."""

    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.columns["customer_id"])


async def read_prior(conn: asyncpg.Connection, segment_names: list[str]) -> Prior:
    expected = await row_estimate(conn, TABLE)
    return Prior(await copy_out(conn, _SQL, _COLUMNS, list(STAGES), segment_names, expected_rows=expected))


def match(ids: np.ndarray, others: np.ndarray) -> np.ndarray:
    """For each of `ids` (16-byte records, distinct), the position of the same id in `others` (distinct), or
    -1. Exact: ids are equal when both 64-bit halves are. The batch's ids come sorted (the summaries are in id
    order) with distinct first halves, so a binary search on those finds each of `others` (0.1 s at 1M
    against 1M); otherwise both sets are sorted together and equal neighbours matched."""
    mine, theirs = id_halves(ids), id_halves(others)
    out = np.full(len(ids), -1, dtype=np.int64)
    if len(ids) and len(others) and bool(np.all(mine[0][1:] > mine[0][:-1])):
        at = np.minimum(np.searchsorted(mine[0], theirs[0]), len(ids) - 1)
        hit = np.flatnonzero((mine[0][at] == theirs[0]) & (mine[1][at] == theirs[1]))
        out[at[hit]] = hit
        return out
    hi, lo = np.concatenate([mine[0], theirs[0]]), np.concatenate([mine[1], theirs[1]])
    order = np.lexsort((lo, hi))
    same = np.flatnonzero((hi[order][1:] == hi[order][:-1]) & (lo[order][1:] == lo[order][:-1]))
    first, second = order[same], order[same + 1]  # one from each set: each set's ids are distinct
    out[np.minimum(first, second)] = np.maximum(first, second) - len(ids)
    return out


# Thresholds are floats the SQL compares as numeric: a difference within a rounding of one goes to the diff.
_SLACK = 1 - 1e-9


def decide(
    scored: dict[str, np.ndarray], prior: Prior, as_of_micros: int, changes: Changes
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """(`stage_since` per scored row in binary-timestamp microseconds, the positions of the scored rows that are
    new or may have changed materially, the positions of the live rows no scored row replaces). "May have
    changed" errs on the side of yes by a rounding of the thresholds: the figures compared are the ones
    stored (money in the staged cents), and the SQL diff decides exactly, as the event path's does, on these
    rows only."""
    old = prior.columns
    at = match(scored["customer_id"], old["customer_id"])
    existed = at >= 0
    pick = np.where(existed, at, 0)

    def was(name: str) -> np.ndarray:
        return old[name][pick] if len(prior) else np.zeros(len(at), dtype=old[name].dtype)

    same_stage = existed & (was("stage") == scored["stage"])
    since = np.where(same_stage, was("stage_since"), as_of_micros)
    composite, clv = cents(scored["composite"]), cents(scored["clv"])
    old_clv, old_p = was("clv"), was("p_alive")
    new_p = scored["p_alive"]
    no_clv, no_old_clv = clv == NO_CENTS, old_clv == NO_CENTS
    both = ~no_clv & ~no_old_clv
    clv_step = np.abs(np.where(both, clv - old_clv, 0)).astype(np.float64)
    clv_bar = changes.clv_relative * np.maximum(np.abs(old_clv), 1).astype(np.float64)
    maybe = (
        ~same_stage
        | (was("abc") != scored["abc"])
        | (was("segment") != scored["segment"])
        | (was("gold") != scored["gold"])
        | (was("drag") != scored["drag"])
        | (np.abs(composite - was("composite")) >= changes.composite_points * 100 * _SLACK)
        | (no_clv != no_old_clv)
        | (both & (clv_step >= clv_bar * _SLACK))
        | (np.isnan(new_p) != np.isnan(old_p))
        | (np.abs(new_p - old_p) >= changes.p_alive * _SLACK)
    )
    replaced = np.zeros(len(prior), dtype=bool)
    replaced[at[existed]] = True
    return {"stage_since": since}, np.flatnonzero(maybe), np.flatnonzero(~replaced)
