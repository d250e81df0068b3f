"""winback cases: the churn service's win-back cases, for targeting

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 16:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "winback_cases",
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("strategy", sa.String(length=100), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("state IN ('open', 'won', 'lost')", name=op.f("ck_winback_cases_state")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_winback_cases")),
    )
    op.create_index("ix_winback_cases_customer", "winback_cases", ["customer_id", "opened_at"])


def downgrade() -> None:
    op.drop_index("ix_winback_cases_customer", table_name="winback_cases")
    op.drop_table("winback_cases")
