"""indexes for a stage's scores in each sort order (issue 13): (stage, clv | churn_risk | composite_score,
customer_id), so `stage=growth&sort=-churn_risk` range-scans one stage instead of walking the churn-risk index
and dropping every other stage's rows; and (abc_class, clv, customer_id) for a class in the default CLV order,
replacing the single-column abc_class index (its prefix); and (month DESC, customer_id) for the points ledger
list's order

Built CONCURRENTLY in autocommit blocks so event handlers keep writing scores meanwhile. The batch builds
the same indexes on each new table it swaps in (compute/swap.py takes them from the model).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-16 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SORTS = ('clv', 'churn_risk', 'composite_score')


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for column in SORTS:
            op.create_index(
                f'ix_customer_scores_stage_{column}_customer_id',
                'customer_scores',
                ['stage', column, 'customer_id'],
                postgresql_concurrently=True,
            )
        op.create_index(
            'ix_customer_scores_abc_class_clv_customer_id',
            'customer_scores',
            ['abc_class', 'clv', 'customer_id'],
            postgresql_concurrently=True,
        )
        op.drop_index('ix_customer_scores_abc_class', table_name='customer_scores', postgresql_concurrently=True)
        op.execute(
            'CREATE INDEX CONCURRENTLY ix_points_ledger_month_desc_customer_id '
            'ON points_ledger (month DESC, customer_id)'
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute('DROP INDEX CONCURRENTLY ix_points_ledger_month_desc_customer_id')
        op.create_index(
            'ix_customer_scores_abc_class', 'customer_scores', ['abc_class'], postgresql_concurrently=True
        )
        op.drop_index(
            'ix_customer_scores_abc_class_clv_customer_id', table_name='customer_scores', postgresql_concurrently=True
        )
        for column in reversed(SORTS):
            op.drop_index(
                f'ix_customer_scores_stage_{column}_customer_id',
                table_name='customer_scores',
                postgresql_concurrently=True,
            )
