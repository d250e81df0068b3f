"""Score cells: customers counted per (stage, abc_class, r, f, rfm_segment, gold, drag), with the sums of m
and of total spend, so the lifecycle funnel, the RFM grid, the ABC class figures and the score counts
without a range filter read a few thousand rows instead of scanning every customer (issue 13).

Kept by PostgreSQL itself: statement-level triggers on customer_scores (created by migration 0007 and by
the batch on every table it swaps in) append one signed delta row per cell a statement changed, so every
write path (event rescoring, merges, the batch's catch-up) is counted and concurrent deliveries only ever
insert (no hot row to lock, no deadlock). A cell is the sum of its rows; now and then a writer folds the
rows into one per cell (score_cells_compact, one compaction at a time under an advisory lock). The batch
rebuilds the table from the new scores inside its swap transaction (kept.py)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Numeric, SmallInteger, String, Table

from ..base import Base
from .kept import Kept

KEY = ("stage", "abc_class", "r", "f", "rfm_segment", "gold", "drag")

score_cells = Table(
    "score_cells",
    Base.metadata,
    Column("stage", String(16), nullable=False),
    Column("abc_class", String(1)),
    Column("r", SmallInteger, nullable=False),
    Column("f", SmallInteger, nullable=False),
    Column("rfm_segment", String(32)),
    Column("gold", Boolean, nullable=False),
    Column("drag", Boolean, nullable=False),
    Column("n", BigInteger, nullable=False),
    Column("m_sum", BigInteger, nullable=False),
    Column("revenue", Numeric(18, 2), nullable=False),
)

_KEYS = ", ".join(KEY)

# The cells of a scores table, from scratch (the batch's rebuild; the tests compare the kept cells to it).
CELLS_OF = (
    f"SELECT {_KEYS}, count(*) AS n, sum(m) AS m_sum, sum(total_spend) AS revenue FROM {{table}} GROUP BY {_KEYS}"
)
# The batch's swap carries them over (kept.py).
CELLS = Kept("score_cells", KEY, ("n", "m_sum", "revenue"), CELLS_OF, weight=0.5)
