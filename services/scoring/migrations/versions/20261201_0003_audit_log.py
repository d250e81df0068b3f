"""audit log: every write and every unmasked read of personal data

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 12:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

from crm_shared.migrations import create_infrastructure_v2, drop_infrastructure_v2

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_infrastructure_v2(op)


def downgrade() -> None:
    drop_infrastructure_v2(op)
