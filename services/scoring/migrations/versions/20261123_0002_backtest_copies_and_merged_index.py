"""backtest copies of every customer's scores (run_scores), runs say whether they stored; index merged customers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 15:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('batch_runs', sa.Column('stored', sa.Boolean(), server_default=sa.text('true'), nullable=False))
    op.add_column('batch_runs', sa.Column('kept_scores', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.create_table('run_scores',
    sa.Column('as_of', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_purchase_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_purchase_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('purchase_days', sa.Integer(), nullable=False),
    sa.Column('order_count', sa.Integer(), nullable=False),
    sa.Column('total_spend', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('avg_spend', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('spend_12m', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('monthly_frequency', sa.Double(), nullable=True),
    sa.Column('monthly_avg_spend', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('tenure_months', sa.Double(), nullable=True),
    sa.Column('recency_days', sa.Integer(), nullable=True),
    sa.Column('frequency_trend', sa.Double(), nullable=True),
    sa.Column('spend_trend', sa.Double(), nullable=True),
    sa.Column('r', sa.SmallInteger(), nullable=False),
    sa.Column('f', sa.SmallInteger(), nullable=False),
    sa.Column('m', sa.SmallInteger(), nullable=False),
    sa.Column('rfm_segment', sa.String(length=32), nullable=True),
    sa.Column('abc_class', sa.String(length=1), nullable=True),
    sa.Column('gold', sa.Boolean(), nullable=False),
    sa.Column('drag', sa.Boolean(), nullable=False),
    sa.Column('composite_score', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('formula_version', sa.Integer(), nullable=True),
    sa.Column('p_alive', sa.Double(), nullable=True),
    sa.Column('churn_risk', sa.Double(), nullable=True),
    sa.Column('expected_purchases', postgresql.ARRAY(sa.Double()), nullable=True),
    sa.Column('expected_spend', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('clv', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('calibration_id', sa.Integer(), nullable=True),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('stage_reason', sa.Text(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['batch_runs.id'], name=op.f('fk_run_scores_run_id_batch_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'customer_id', name=op.f('pk_run_scores'))
    )
    op.create_index(
        'ix_known_customers_merged_into',
        'known_customers',
        ['merged_into'],
        unique=False,
        postgresql_where=sa.text('merged_into IS NOT NULL'),
    )


def downgrade() -> None:
    op.drop_index('ix_known_customers_merged_into', table_name='known_customers', postgresql_where=sa.text('merged_into IS NOT NULL'))
    op.drop_table('run_scores')
    op.drop_column('batch_runs', 'kept_scores')
    op.drop_column('batch_runs', 'stored')
