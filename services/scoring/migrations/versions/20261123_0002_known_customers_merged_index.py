"""index merged customers: merges and the batch's catch-up find them without a scan

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 15:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        'ix_known_customers_merged_into',
        'known_customers',
        ['merged_into'],
        unique=False,
        postgresql_where=sa.text('merged_into IS NOT NULL'),
    )


def downgrade() -> None:
    op.drop_index('ix_known_customers_merged_into', table_name='known_customers', postgresql_where=sa.text('merged_into IS NOT NULL'))
