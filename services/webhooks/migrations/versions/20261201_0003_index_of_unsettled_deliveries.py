"""index of unsettled deliveries, for the gauges of waiting and dead deliveries

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_webhook_deliveries_unsettled",
        "webhook_deliveries",
        ["subscription_id", "status", "next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status <> 'succeeded'"),
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_unsettled", table_name="webhook_deliveries")
