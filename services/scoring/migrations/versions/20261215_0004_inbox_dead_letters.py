"""inbox dead letters: events this service could not apply, kept for inspection and replay

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-15 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

from crm_shared.migrations import create_infrastructure_v3, drop_infrastructure_v3

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_infrastructure_v3(op)


def downgrade() -> None:
    drop_infrastructure_v3(op)
