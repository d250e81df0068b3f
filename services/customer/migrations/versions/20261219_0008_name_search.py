"""name search without pg_trgm, and kept name groups (issue 13)

A GIN index of every customer's name bigrams and trigrams, so customers `q=` finds the names containing q from
an index on any PostgreSQL (the embedded server has no contrib, so no pg_trgm: there `q=` read every name).
Core PostgreSQL only: two functions and a GIN expression index with the built-in array operator class.
`customer_name_grams(name)` is every 2- and 3-character substring of lower(name); q's grams
(`customer_query_grams`: its trigrams, or its one bigram when it is two characters long) are all among them
whenever lower(q) is a substring of lower(name), which is what `display_name ILIKE '%q%'` tests: the index
narrows, the ILIKE rechecks, so the result is exactly the ILIKE's. PostgreSQL keeps the index current in
every write's transaction (inserts, renames, merges, deletes), whichever path writes.

Built CONCURRENTLY so a live base keeps taking writes (1M customers: ~1.5 min on a busy 2-core machine, 40 MB);
a failed build leaves an INVALID index: drop it and run the upgrade again. Each write of a name costs more: a
20,000-row insert took ~0.1-0.2 ms more a row with the index than without (computing the grams is ~40 us of it).

Also the duplicates list's name groups (similar names within a company): kept per company in name_groups,
recomputed before each listing for the companies marked in name_group_marks, which statement triggers on
customers append to in every write's transaction (a member added, renamed, moved, merged or deleted), so the
list no longer compares the members of every company; every company with members is marked here, so the
first listing computes them all once.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-19 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_customers_name_grams"

# IMMUTABLE as an index expression must be: lower() follows the column's collation, fixed for a database. A loop
# (repeats left in: the index keeps each key once) costs half of a set-returning SQL body on every write of a
# name: measured 39 vs 87 us a name.
NAME_GRAMS = """
CREATE FUNCTION customer_name_grams(name text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
    l text := lower(name);
    n int := char_length(l);
    grams text[] := '{}';
BEGIN
    FOR i IN 1 .. n - 1 LOOP
        grams := grams || substr(l, i, 2);
        IF i <= n - 2 THEN
            grams := grams || substr(l, i, 3);
        END IF;
    END LOOP;
    RETURN grams;
END
$fn$
"""

# Trigrams are rarer than bigrams, so a q of three or more characters asks for its trigrams only; a shorter
# one asks for nothing (every name contains the empty set: the ILIKE alone decides).
QUERY_GRAMS = """
CREATE FUNCTION customer_query_grams(q text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ARRAY(
    SELECT DISTINCT substr(l, i, n)
    FROM (SELECT lower(q) AS l, least(char_length(lower(q)), 3) AS n) s, generate_series(1, char_length(l) - n + 1) i
    WHERE n >= 2
)
"""


# The companies a statement's changed rows belonged to (before) or belong to (after), when what the name groups
# read changed: membership, name or merge state.
MARK = """
CREATE FUNCTION name_groups_mark() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO name_group_marks (company_id) SELECT DISTINCT company_id FROM new_rows WHERE company_id IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO name_group_marks (company_id) SELECT DISTINCT company_id FROM old_rows WHERE company_id IS NOT NULL;
    ELSE
        INSERT INTO name_group_marks (company_id)
        SELECT DISTINCT v.company_id
        FROM old_rows o JOIN new_rows n ON n.id = o.id,
             LATERAL (VALUES (o.company_id), (n.company_id)) AS v(company_id)
        WHERE v.company_id IS NOT NULL
          AND (o.company_id, o.display_name, o.merged_into) IS DISTINCT FROM (n.company_id, n.display_name, n.merged_into);
    END IF;
    RETURN NULL;
END
$fn$
"""
MARK_TRIGGERS = {
    "name_groups_insert": "AFTER INSERT ON customers REFERENCING NEW TABLE AS new_rows",
    "name_groups_update": "AFTER UPDATE ON customers REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "name_groups_delete": "AFTER DELETE ON customers REFERENCING OLD TABLE AS old_rows",
}


def upgrade() -> None:
    op.execute(NAME_GRAMS)
    op.execute(QUERY_GRAMS)
    op.create_table(
        "name_groups",
        sa.Column("company_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("first_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("ids", postgresql.ARRAY(postgresql.UUID(as_uuid=True)), nullable=False),
        sa.PrimaryKeyConstraint("company_id", "first_id", name=op.f("pk_name_groups")),
    )
    op.create_table("name_group_marks", sa.Column("company_id", postgresql.UUID(as_uuid=True), nullable=False))
    op.execute(MARK)
    for name, when in MARK_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT EXECUTE FUNCTION name_groups_mark()")
    # After the triggers: a change committed meanwhile is marked by them, so no company is missed.
    op.execute(
        "INSERT INTO name_group_marks (company_id) "
        "SELECT DISTINCT company_id FROM customers WHERE company_id IS NOT NULL AND merged_into IS NULL"
    )
    with op.get_context().autocommit_block():
        op.execute(f"CREATE INDEX CONCURRENTLY {INDEX} ON customers USING gin (customer_name_grams(display_name))")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
    for name in MARK_TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON customers")
    op.execute("DROP FUNCTION name_groups_mark()")
    op.drop_table("name_group_marks")
    op.drop_table("name_groups")
    op.execute("DROP FUNCTION customer_query_grams(text)")
    op.execute("DROP FUNCTION customer_name_grams(text)")
