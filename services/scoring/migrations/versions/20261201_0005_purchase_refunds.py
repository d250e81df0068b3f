"""each refund of an order with its own time (purchase_refunds), so an as-of recompute between two partial
refunds counts the earlier one

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('purchase_refunds',
    sa.Column('order_id', sa.UUID(), nullable=False),
    sa.Column('refunded_total', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['purchases.order_id'], name=op.f('fk_purchase_refunds_order_id_purchases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('order_id', 'refunded_total', name=op.f('pk_purchase_refunds'))
    )
    # What the copy knew so far: each refunded order's total as of its latest refund.
    op.execute(
        "INSERT INTO purchase_refunds (order_id, refunded_total, refunded_at) "
        "SELECT order_id, refunded_amount, refunded_at FROM purchases "
        "WHERE refunded_amount > 0 AND refunded_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table('purchase_refunds')
