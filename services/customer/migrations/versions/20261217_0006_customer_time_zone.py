"""customer time zone: the IANA name campaigns' quiet hours follow (null: unknown)

A nullable column without a default: PostgreSQL adds it without rewriting the table, so a live base takes
writes throughout.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-17 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('customers', sa.Column('time_zone', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('customers', 'time_zone')
