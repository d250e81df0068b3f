"""name groups refreshed in the background, and the pg_trgm index of 0005 dropped (issue 13)

- An index on name_group_marks' company, so the background refresh (crm_customer/hygiene/worker.py) takes a
  batch of companies and deletes their marks without reading every mark.
- A statement that adds marks notifies `crm_name_group_marks` (delivered when its transaction commits, once per
  transaction), which wakes the refresh of every replica; a statement adding none (a write that changed no
  name, company or merge state) stays silent.
- `ix_customers_display_name_trgm` (0005, built only where the server ships pg_trgm) is dropped: since 0008 the
  name grams' GIN index serves `q=` on every server, and the ILIKE of `q=` is the only predicate on names the
  index could serve. Where both existed it did harm: measured on PostgreSQL 15 with contrib, 1M customers, the
  customers list in process, median of 6: for a two-character q the planner ANDed the trigram index, which
  cannot narrow a pattern shorter than a trigram and returned all 1M rows (677 ms), with the grams index alone
  29 ms; no match 38 -> 30 ms, a full name 38 -> 37, a common piece 20 -> 26, a rarer piece 58 -> 61 (noise),
  and each write of a name no longer updates a second GIN index. The pg_trgm extension itself stays.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-20 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARKS_INDEX = "ix_name_group_marks_company_id"
TRIGRAM_INDEX = "ix_customers_display_name_trgm"
NOTIFY = """
CREATE FUNCTION name_group_marks_notify() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF EXISTS (SELECT 1 FROM added) THEN
        PERFORM pg_notify('crm_name_group_marks', '');
    END IF;
    RETURN NULL;
END
$fn$
"""


def upgrade() -> None:
    op.execute(NOTIFY)
    op.execute(
        "CREATE TRIGGER name_group_marks_notify AFTER INSERT ON name_group_marks REFERENCING NEW TABLE AS added "
        "FOR EACH STATEMENT EXECUTE FUNCTION name_group_marks_notify()"
    )
    with op.get_context().autocommit_block():
        op.create_index(MARKS_INDEX, "name_group_marks", ["company_id"], postgresql_concurrently=True)
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {TRIGRAM_INDEX}")


def downgrade() -> None:
    # As 0005 left it: the trigram index where pg_trgm is installed (0005 installs it where the server has it).
    trigram = op.get_bind().exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").scalar()
    with op.get_context().autocommit_block():
        if trigram:
            op.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {TRIGRAM_INDEX} "
                "ON customers USING gin (display_name gin_trgm_ops)"
            )
        op.drop_index(MARKS_INDEX, table_name="name_group_marks", postgresql_concurrently=True)
    op.execute("DROP TRIGGER name_group_marks_notify ON name_group_marks")
    op.execute("DROP FUNCTION name_group_marks_notify()")
