"""churn_records.reason_keys: each record's reason keys (sorted), kept by statement-level triggers on
churn_record_reasons, so the reasons report groups the period's records by their reason set in one scan
instead of joining and grouping every (record, reason) pair; filled here from the current reasons

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 18:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The records a statement touched get their reason set again, once per statement.
_KEYS_OF = """
UPDATE churn_records c SET reason_keys = coalesce(
    (SELECT array_agg(x.reason_key ORDER BY x.reason_key) FROM churn_record_reasons x WHERE x.record_id = c.id),
    '{{}}')
WHERE c.id IN (SELECT DISTINCT record_id FROM {rows})"""
TRACK = f"""
CREATE FUNCTION churn_record_reason_keys() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_KEYS_OF.format(rows="new_rows")};
    ELSIF TG_OP = 'DELETE' THEN
        {_KEYS_OF.format(rows="old_rows")};
    ELSE
        {_KEYS_OF.format(rows="(SELECT record_id FROM new_rows UNION SELECT record_id FROM old_rows) AS t")};
    END IF;
    RETURN NULL;
END
$fn$
"""
TRIGGERS = {
    "churn_record_reason_keys_insert": "AFTER INSERT ON churn_record_reasons REFERENCING NEW TABLE AS new_rows",
    "churn_record_reason_keys_update": (
        "AFTER UPDATE ON churn_record_reasons REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
    ),
    "churn_record_reason_keys_delete": "AFTER DELETE ON churn_record_reasons REFERENCING OLD TABLE AS old_rows",
}


def upgrade() -> None:
    op.add_column(
        "churn_records",
        sa.Column(
            "reason_keys",
            postgresql.ARRAY(sa.String(length=64)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.execute(TRACK)
    # Writers wait while the sets are filled, so no change is missed between the fill and the triggers.
    op.execute("LOCK TABLE churn_record_reasons IN SHARE MODE")
    for name, when in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT EXECUTE FUNCTION churn_record_reason_keys()")
    op.execute("""
        UPDATE churn_records c SET reason_keys = x.keys
        FROM (SELECT record_id, array_agg(reason_key ORDER BY reason_key) AS keys
              FROM churn_record_reasons GROUP BY record_id) x
        WHERE x.record_id = c.id""")


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON churn_record_reasons")
    op.execute("DROP FUNCTION churn_record_reason_keys()")
    op.drop_column("churn_records", "reason_keys")
