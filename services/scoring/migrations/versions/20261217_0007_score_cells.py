"""score cells (issue 13): customers per (stage, abc_class, r, f, rfm_segment, gold, drag) with sums of m and
total spend, kept by statement-level triggers on customer_scores that append signed deltas (see
crm_scoring/distributions/cells.py); filled here from the current scores

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-17 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = 'stage, abc_class, r, f, rfm_segment, gold, drag'
CELLS = f'INSERT INTO score_cells ({KEYS}, n, m_sum, revenue)'

# Net change per cell of one statement (an update that leaves a customer in the same cell with the same m
# and spend adds nothing). Then, about once in 50 statements, fold the rows into one per cell.
TRACK = f"""
CREATE FUNCTION score_cells_track() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {CELLS} SELECT {KEYS}, count(*), sum(m), sum(total_spend) FROM new_rows GROUP BY {KEYS};
    ELSIF TG_OP = 'DELETE' THEN
        {CELLS} SELECT {KEYS}, -count(*), -sum(m), -sum(total_spend) FROM old_rows GROUP BY {KEYS};
    ELSE
        {CELLS} SELECT {KEYS}, sum(n), sum(m), sum(spend) FROM (
            SELECT {KEYS}, 1 AS n, m, total_spend AS spend FROM new_rows
            UNION ALL
            SELECT {KEYS}, -1, -m, -total_spend FROM old_rows
        ) AS d GROUP BY {KEYS} HAVING sum(n) <> 0 OR sum(m) <> 0 OR sum(spend) <> 0;
    END IF;
    IF random() < 0.02 THEN
        PERFORM score_cells_compact();
    END IF;
    RETURN NULL;
END
$fn$
"""

# One compaction at a time (a second would wait on the rows the first deletes, while holding rows of its
# own): the others skip it. Rows appended meanwhile are not in the DELETE's snapshot and stay as they are.
COMPACT = f"""
CREATE FUNCTION score_cells_compact() RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('score_cells_compact')) THEN
        RETURN false;
    END IF;
    WITH gone AS (DELETE FROM score_cells RETURNING *)
    {CELLS} SELECT {KEYS}, sum(n), sum(m_sum), sum(revenue) FROM gone GROUP BY {KEYS} HAVING sum(n) <> 0;
    RETURN true;
END
$fn$
"""

TRIGGERS = {
    'score_cells_insert': 'AFTER INSERT ON customer_scores REFERENCING NEW TABLE AS new_rows',
    'score_cells_update': 'AFTER UPDATE ON customer_scores REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows',
    'score_cells_delete': 'AFTER DELETE ON customer_scores REFERENCING OLD TABLE AS old_rows',
}


def upgrade() -> None:
    op.create_table(
        'score_cells',
        sa.Column('stage', sa.String(length=16), nullable=False),
        sa.Column('abc_class', sa.String(length=1), nullable=True),
        sa.Column('r', sa.SmallInteger(), nullable=False),
        sa.Column('f', sa.SmallInteger(), nullable=False),
        sa.Column('rfm_segment', sa.String(length=32), nullable=True),
        sa.Column('gold', sa.Boolean(), nullable=False),
        sa.Column('drag', sa.Boolean(), nullable=False),
        sa.Column('n', sa.BigInteger(), nullable=False),
        sa.Column('m_sum', sa.BigInteger(), nullable=False),
        sa.Column('revenue', sa.Numeric(precision=18, scale=2), nullable=False),
    )
    op.execute(COMPACT)
    op.execute(TRACK)
    # Writers wait while the cells are filled, so none is counted twice or missed.
    op.execute('LOCK TABLE customer_scores IN SHARE MODE')
    op.execute(
        f'{CELLS} SELECT {KEYS}, count(*), sum(m), sum(total_spend) FROM customer_scores GROUP BY {KEYS}'
    )
    for name, when in TRIGGERS.items():
        op.execute(f'CREATE TRIGGER {name} {when} FOR EACH STATEMENT EXECUTE FUNCTION score_cells_track()')


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f'DROP TRIGGER {name} ON customer_scores')
    op.execute('DROP FUNCTION score_cells_track()')
    op.execute('DROP FUNCTION score_cells_compact()')
    op.drop_table('score_cells')
