"""churn_month_totals: the churned records of each month per single report filter (none, a dimension's value
at churn, a cited reason), won back or not, and reason set, as signed counts and sums appended by
statement-level triggers on churn_records, so the churn-rate, profit-lost, retention-budget and reasons reports
with at most one filter sum a few rows per month instead of scanning the period's records (100k records at 1M
customers); filled here from the current records

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW = """SELECT (date_trunc('month', detected_at AT TIME ZONE 'UTC'))::date AS m, status = 'won_back' AS won_back,
       revenue_12m, margin, clv, abc_class, stage, segment, region, channel, reason_keys, {sign} AS sign
FROM {rows} WHERE folded_into IS NULL"""
# A statement's unfolded records, +1 per new row and -1 per old one, each counted under every filter it
# passes (the unfiltered totals, its dimensions' values, each reason it cites), summed per month and filter.
_APPEND = """
INSERT INTO churn_month_totals (m, dim, value, won_back, reason_keys, n, revenue, profit, clv)
SELECT r.m, f.dim, f.value, r.won_back, r.reason_keys, sum(r.sign), sum(r.sign * r.revenue_12m),
       sum(r.sign * r.revenue_12m * r.margin), sum(r.sign * coalesce(r.clv, 0))
FROM ({rows}) AS r
CROSS JOIN LATERAL (
    VALUES ('', ''), ('abc_class', r.abc_class), ('stage', r.stage), ('segment', r.segment),
           ('region', r.region), ('channel', r.channel)
    UNION ALL SELECT 'reason', unnest(r.reason_keys)
) AS f (dim, value)
WHERE f.value IS NOT NULL
GROUP BY r.m, f.dim, f.value, r.won_back, r.reason_keys
HAVING sum(r.sign) <> 0 OR sum(r.sign * r.revenue_12m) <> 0 OR sum(r.sign * r.revenue_12m * r.margin) <> 0
    OR sum(r.sign * coalesce(r.clv, 0)) <> 0"""
_NEW = _ROW.format(sign=1, rows="new_rows")
_OLD = _ROW.format(sign=-1, rows="old_rows")
TRACK = f"""
CREATE FUNCTION churn_month_totals_track() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_APPEND.format(rows=_NEW)};
    ELSIF TG_OP = 'DELETE' THEN
        {_APPEND.format(rows=_OLD)};
    ELSE
        {_APPEND.format(rows=_NEW + " UNION ALL " + _OLD)};
    END IF;
    RETURN NULL;
END
$fn$
"""
TRIGGERS = {
    "churn_month_totals_insert": "AFTER INSERT ON churn_records REFERENCING NEW TABLE AS new_rows",
    "churn_month_totals_update": (
        "AFTER UPDATE ON churn_records REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
    ),
    "churn_month_totals_delete": "AFTER DELETE ON churn_records REFERENCING OLD TABLE AS old_rows",
}


def upgrade() -> None:
    op.create_table(
        "churn_month_totals",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("m", sa.Date(), nullable=False),
        sa.Column("dim", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=100), nullable=False),
        sa.Column("won_back", sa.Boolean(), nullable=False),
        sa.Column("reason_keys", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("revenue", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("profit", sa.Numeric(), nullable=False),
        sa.Column("clv", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_churn_month_totals")),
    )
    op.create_index("ix_churn_month_totals_filter", "churn_month_totals", ["dim", "value", "m"], unique=False)
    op.execute(TRACK)
    # Writers wait while the totals are filled, so no change is missed between the fill and the triggers.
    op.execute("LOCK TABLE churn_records IN SHARE MODE")
    for name, when in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT EXECUTE FUNCTION churn_month_totals_track()")
    op.execute(_APPEND.format(rows=_ROW.format(sign=1, rows="churn_records")))


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON churn_records")
    op.execute("DROP FUNCTION churn_month_totals_track()")
    op.drop_index("ix_churn_month_totals_filter", table_name="churn_month_totals")
    op.drop_table("churn_month_totals")
