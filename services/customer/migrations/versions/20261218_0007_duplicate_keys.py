"""duplicate keys (issue 13): live customers per normalized email and phone, kept by statement-level
triggers on customers in every write's transaction (changes appended, folded into the counts at commit in
key order), so the duplicates list reads the shared keys from a partial index instead of grouping every
customer; filled here from the current customers

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-18 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASONS = ("email", "phone")


def _keys(table: str, sign: str) -> str:
    """(reason, key, signed count) of a table's live customers holding a key."""
    return " UNION ALL ".join(
        f"SELECT '{r}' AS reason, {r}::text AS key, {sign} AS n FROM {table} "
        f"WHERE merged_into IS NULL AND {r} IS NOT NULL"
        for r in REASONS
    )


def _add(*parts: tuple[str, str]) -> str:
    union = " UNION ALL ".join(_keys(t, s) for t, s in parts)
    return (
        f"INSERT INTO duplicate_key_changes (reason, key, n) SELECT reason, key, sum(n) FROM ({union}) AS d "
        "GROUP BY reason, key HAVING sum(n) <> 0"
    )


# A statement's net changes are appended (an insert never waits for another writer), and the transaction's
# first statement also appends a marker (n = 0) that queues one fold at commit...
TRACK = f"""
CREATE FUNCTION duplicate_keys_track() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_add(("new_rows", "1"))};
    ELSIF TG_OP = 'DELETE' THEN
        {_add(("old_rows", "-1"))};
    ELSE
        {_add(("new_rows", "1"), ("old_rows", "-1"))};
    END IF;
    IF current_setting('crm.duplicate_keys_fold', true) IS DISTINCT FROM txid_current()::text THEN
        PERFORM set_config('crm.duplicate_keys_fold', txid_current()::text, true);
        INSERT INTO duplicate_key_changes (reason, key, n) VALUES ('', '', 0);
    END IF;
    RETURN NULL;
END
$fn$
"""

# ... where the transaction's changes are added to the counts in one statement, in key order: every writer
# takes the count rows' locks in the same order, held only for the commit, so none deadlocks (adding statement
# by statement, two transactions could lock two keys in opposite orders).
FOLD = """
CREATE FUNCTION duplicate_keys_fold() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    WITH mine AS (DELETE FROM duplicate_key_changes WHERE tx = txid_current() RETURNING reason, key, n)
    INSERT INTO duplicate_keys (reason, key, n)
    SELECT reason, key, sum(n) FROM mine GROUP BY reason, key HAVING sum(n) <> 0 ORDER BY reason, key
    ON CONFLICT (reason, key) DO UPDATE SET n = duplicate_keys.n + excluded.n;
    RETURN NULL;
END
$fn$
"""

TRIGGERS = {
    "duplicate_keys_insert": "AFTER INSERT ON customers REFERENCING NEW TABLE AS new_rows",
    "duplicate_keys_update": "AFTER UPDATE ON customers REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "duplicate_keys_delete": "AFTER DELETE ON customers REFERENCING OLD TABLE AS old_rows",
}


def upgrade() -> None:
    op.create_table(
        "duplicate_keys",
        sa.Column("reason", sa.String(length=8), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("reason", "key", name=op.f("pk_duplicate_keys")),
    )
    op.create_table(
        "duplicate_key_changes",
        sa.Column("tx", sa.BigInteger(), server_default=sa.text("txid_current()"), nullable=False),
        sa.Column("reason", sa.String(length=8), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
    )
    op.create_index("ix_duplicate_key_changes_tx", "duplicate_key_changes", ["tx"])
    op.execute(TRACK)
    op.execute(FOLD)
    op.execute(
        "CREATE CONSTRAINT TRIGGER duplicate_keys_fold AFTER INSERT ON duplicate_key_changes "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.n = 0) EXECUTE FUNCTION duplicate_keys_fold()"
    )
    # Writers wait while the counts are filled, so none is counted twice or missed.
    op.execute("LOCK TABLE customers IN SHARE MODE")
    op.execute(
        "INSERT INTO duplicate_keys (reason, key, n) "
        f"SELECT reason, key, sum(n) FROM ({_keys('customers', '1')}) AS d GROUP BY reason, key"
    )
    op.create_index("ix_duplicate_keys_shared", "duplicate_keys", ["reason", "key"], postgresql_where=sa.text("n > 1"))
    for name, when in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT EXECUTE FUNCTION duplicate_keys_track()")


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON customers")
    op.execute("DROP FUNCTION duplicate_keys_track()")
    op.drop_table("duplicate_key_changes")
    op.execute("DROP FUNCTION duplicate_keys_fold()")
    op.drop_index("ix_duplicate_keys_shared", table_name="duplicate_keys")
    op.drop_table("duplicate_keys")
