"""winback_month_totals: the closed (won or lost) win-back cases of each closing month (UTC, by
coalesce(closed_at, window_ends_at)) per report key (none, primary reason, strategy, owner), as signed counts
and sums appended by statement-level triggers on winback_cases, so the win-back report sums a few rows per
month instead of grouping every closed case (100k cases at 1M customers); filled here from the current cases

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 03:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Only assessed cases: open ones past their window are counted by the report's live query (they turn lost
# when the sweep records them, which moves them here); excluded and merged cases are in no report.
_ROW = """SELECT (date_trunc('month', coalesce(closed_at, window_ends_at) AT TIME ZONE 'UTC'))::date AS m,
       status = 'won' AS won, benefit, cost, primary_reason, strategy, owner, {sign} AS sign
FROM {rows} WHERE status IN ('won', 'lost')"""
# A statement's closed cases, +1 per new row and -1 per old one, under every report key (with the report's
# labels for a missing reason, strategy or owner), summed per month and key.
_APPEND = """
INSERT INTO winback_month_totals (m, dim, value, n, won, benefit, cost)
SELECT r.m, f.dim, f.value, sum(r.sign), coalesce(sum(r.sign) FILTER (WHERE r.won), 0),
       coalesce(sum(r.sign * r.benefit) FILTER (WHERE r.won), 0), sum(r.sign * r.cost)
FROM ({rows}) AS r
CROSS JOIN LATERAL (
    VALUES ('', ''), ('reason', coalesce(r.primary_reason, 'unclassified')),
           ('strategy', coalesce(r.strategy, 'none')), ('owner', coalesce(r.owner, 'unassigned'))
) AS f (dim, value)
GROUP BY r.m, f.dim, f.value
HAVING sum(r.sign) <> 0 OR coalesce(sum(r.sign) FILTER (WHERE r.won), 0) <> 0
    OR coalesce(sum(r.sign * r.benefit) FILTER (WHERE r.won), 0) <> 0 OR sum(r.sign * r.cost) <> 0"""
_NEW = _ROW.format(sign=1, rows="new_rows")
_OLD = _ROW.format(sign=-1, rows="old_rows")
# One trigger function per kind of statement, appending the cases of its transition tables.
STATEMENTS = {
    "insert": ("REFERENCING NEW TABLE AS new_rows", _NEW),
    "update": ("REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows", f"{_NEW} UNION ALL {_OLD}"),
    "delete": ("REFERENCING OLD TABLE AS old_rows", _OLD),
}


def upgrade() -> None:
    op.create_table(
        "winback_month_totals",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("m", sa.Date(), nullable=False),
        sa.Column("dim", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=100), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("won", sa.BigInteger(), nullable=False),
        sa.Column("benefit", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("cost", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_winback_month_totals")),
    )
    op.create_index("ix_winback_month_totals_key", "winback_month_totals", ["dim", "m"], unique=False)
    # Writers wait while the totals are filled, so no change is missed between the fill and the triggers.
    op.execute("LOCK TABLE winback_cases IN SHARE MODE")
    for kind, (tables, rows) in STATEMENTS.items():
        name = f"winback_month_totals_{kind}"
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$\n"
            f"BEGIN {_APPEND.format(rows=rows)};\nRETURN NULL;\nEND $fn$"
        )
        op.execute(
            f"CREATE TRIGGER {name} AFTER {kind.upper()} ON winback_cases {tables} FOR EACH STATEMENT"
            f" EXECUTE FUNCTION {name}()"
        )
    op.execute(_APPEND.format(rows=_ROW.format(sign=1, rows="winback_cases")))


def downgrade() -> None:
    for kind in STATEMENTS:
        op.execute(f"DROP TRIGGER winback_month_totals_{kind} ON winback_cases")
        op.execute(f"DROP FUNCTION winback_month_totals_{kind}()")
    op.drop_index("ix_winback_month_totals_key", table_name="winback_month_totals")
    op.drop_table("winback_month_totals")
