"""customer_values.stage_at (a late older lifecycle stage changes nothing); win-back cases fold on merges
(status 'merged', merged_into); the churn-rate ledger churn_rate_deltas, built from the read model

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 16:02:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_churn.reports.ledger import REBUILD

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


OLD = "status IN ('analysis', 'implementation', 'won', 'lost', 'excluded')"
NEW = "status IN ('analysis', 'implementation', 'won', 'lost', 'excluded', 'merged')"


def upgrade() -> None:
    op.add_column("customer_values", sa.Column("stage_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("winback_cases", sa.Column("merged_into", sa.UUID(), nullable=True))
    op.drop_constraint(op.f("ck_winback_cases_status"), "winback_cases", type_="check")
    op.create_check_constraint(op.f("ck_winback_cases_status"), "winback_cases", NEW)
    op.create_table(
        "churn_rate_deltas",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("m", sa.Date(), nullable=False),
        sa.Column("abc_class", sa.String(length=1), nullable=True),
        sa.Column("stage", sa.String(length=16), nullable=True),
        sa.Column("segment", sa.String(length=32), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("revenue", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_churn_rate_deltas")),
    )
    for sql in REBUILD:  # the figures of the customers already known
        op.execute(sa.text(sql))


def downgrade() -> None:
    op.drop_table("churn_rate_deltas")
    op.drop_constraint(op.f("ck_winback_cases_status"), "winback_cases", type_="check")
    op.execute("UPDATE winback_cases SET status = 'lost' WHERE status = 'merged'")
    op.create_check_constraint(op.f("ck_winback_cases_status"), "winback_cases", OLD)
    op.drop_column("winback_cases", "merged_into")
    op.drop_column("customer_values", "stage_at")
