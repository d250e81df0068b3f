"""small-integer copies of the stage and the ABC class (generated columns) leading the five indexes that led
with the text columns: the batch builds every index on each table it swaps in, and a two-byte leading key
sorts with PostgreSQL's inlined integer comparison (those five builds: 13.4 -> 9.2 s at 1M scores)

Adding the stored columns rewrites customer_scores once, under its lock (about 10 s per million rows); the
indexes are then built CONCURRENTLY, so event handlers write meanwhile, and the old ones dropped.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-19 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of crm_scoring.scores.models STAGE_CODE_SQL and ABC_CODE_SQL.
STAGE_CODE = (
    "CASE stage WHEN 'introduction' THEN 0 WHEN 'growth' THEN 1 WHEN 'maturity' THEN 2 WHEN 'decline' THEN 3 "
    "WHEN 'churned' THEN 4 END"
)
ABC_CODE = "CASE abc_class WHEN 'C' THEN 1 WHEN 'B' THEN 2 WHEN 'A' THEN 3 END"
# (old index, new index, columns after the code)
INDEXES = (
    ('ix_customer_scores_stage_customer_id', 'ix_customer_scores_stage_code_customer_id', 'stage', ['customer_id']),
    *(
        (
            f'ix_customer_scores_stage_{c}_customer_id',
            f'ix_customer_scores_stage_code_{c}_customer_id',
            'stage',
            [c, 'customer_id'],
        )
        for c in ('clv', 'churn_risk', 'composite_score')
    ),
    (
        'ix_customer_scores_abc_class_clv_customer_id',
        'ix_customer_scores_abc_code_clv_customer_id',
        'abc_class',
        ['clv', 'customer_id'],
    ),
)


def upgrade() -> None:
    op.execute(
        f'ALTER TABLE customer_scores ADD COLUMN stage_code smallint GENERATED ALWAYS AS ({STAGE_CODE}) STORED, '
        f'ADD COLUMN abc_code smallint GENERATED ALWAYS AS ({ABC_CODE}) STORED'
    )
    with op.get_context().autocommit_block():
        for old, new, text_column, rest in INDEXES:
            code = 'stage_code' if text_column == 'stage' else 'abc_code'
            op.create_index(new, 'customer_scores', [code, *rest], postgresql_concurrently=True)
            op.drop_index(old, table_name='customer_scores', postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for old, new, text_column, rest in reversed(INDEXES):
            op.create_index(old, 'customer_scores', [text_column, *rest], postgresql_concurrently=True)
            op.drop_index(new, table_name='customer_scores', postgresql_concurrently=True)
    op.execute('ALTER TABLE customer_scores DROP COLUMN abc_code, DROP COLUMN stage_code')
