"""Score cells: customers counted per (stage, abc_class, r, f, rfm_segment, gold, drag), with the sums of m
and of total spend, so the lifecycle funnel, the RFM grid, the ABC class figures and the score counts
without a range filter read a few thousand rows instead of scanning every customer (issue 13).

Kept by PostgreSQL itself: statement-level triggers on customer_scores (created by migration 0007 and by
the batch on every table it swaps in) append one signed delta row per cell a statement changed, so every
write path (event rescoring, merges, the batch's catch-up) is counted and concurrent deliveries only ever
insert (no hot row to lock, no deadlock). A cell is the sum of its rows; now and then a writer folds the
rows into one per cell (score_cells_compact, one compaction at a time under an advisory lock). The batch
rebuilds the table from the new scores inside its swap transaction."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Numeric, SmallInteger, String, Table

from ..base import Base

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


def rebuild_sql(table: str) -> list[str]:
    """Replace every cell with the cells of `table` (run while writers are locked out)."""
    return [
        "DELETE FROM score_cells",
        f"INSERT INTO score_cells ({_KEYS}, n, m_sum, revenue) {CELLS_OF.format(table=table)}",
    ]


def trigger_sql(table: str) -> list[str]:
    """The triggers that keep the cells current from `table`'s writes (the function is migration 0007's)."""
    return [
        f"CREATE TRIGGER score_cells_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION score_cells_track()",
        f"CREATE TRIGGER score_cells_update AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows "
        "NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION score_cells_track()",
        f"CREATE TRIGGER score_cells_delete AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION score_cells_track()",
    ]
