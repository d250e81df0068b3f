"""campaign_tallies: a campaign's members per group and recipients per status, kept as signed counts by
statement-level triggers on campaign_members and campaign_recipients, so a campaign's result sums a few rows
instead of counting its members and recipients (an email campaign to ~72% of 100k customers: 122 / 168 ms at
p50 / p95 through the gateway, growing with the audience); filled here from the
current rows; an index on campaign_recipients (campaign_id, provider_ref) for a batch's CSV, and one on the
audience's composite score for a segment preview's sample, one on call_tasks (campaign, status, customer) for
the call list filtered by status, and a covering one on campaign_conversions for the result's grouping per member

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> (the tally's kind, the counted column)
TALLIED = {"campaign_members": ("group", "grp"), "campaign_recipients": ("status", "status")}
# A statement's rows counted once: +1 per new row, -1 per old one, per campaign and value (no row when the
# statement moved nothing, as an update of attempts only).
_APPEND = """
INSERT INTO campaign_tallies (campaign_id, kind, value, n)
SELECT campaign_id, '{kind}', {column}, sum(n) FROM ({rows}) AS t
GROUP BY campaign_id, {column} HAVING sum(n) <> 0"""
_NEW = "SELECT campaign_id, {column}, 1 AS n FROM new_rows"
_OLD = "SELECT campaign_id, {column}, -1 AS n FROM old_rows"


def _function(table: str) -> str:
    kind, column = TALLIED[table]

    def append(*parts: str) -> str:
        return _APPEND.format(kind=kind, column=column, rows=" UNION ALL ".join(p.format(column=column) for p in parts))

    return f"""
CREATE FUNCTION {table}_tally() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {append(_NEW)};
    ELSIF TG_OP = 'DELETE' THEN
        {append(_OLD)};
    ELSE
        {append(_NEW, _OLD)};
    END IF;
    RETURN NULL;
END
$fn$
"""


def _triggers(table: str) -> dict[str, str]:
    return {
        f"{table}_tally_insert": f"AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows",
        f"{table}_tally_update": f"AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
        f"{table}_tally_delete": f"AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows",
    }


def upgrade() -> None:
    op.create_table(
        "campaign_tallies",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("kind IN ('group', 'status')", name=op.f("ck_campaign_tallies_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_tallies")),
    )
    op.create_index("ix_campaign_tallies_campaign_id", "campaign_tallies", ["campaign_id"], unique=False)
    op.create_index(
        "ix_campaign_recipients_provider_ref", "campaign_recipients", ["campaign_id", "provider_ref"], unique=False
    )
    op.create_index(
        "ix_audience_customers_sample",
        "audience_customers",
        [sa.text("composite_score DESC NULLS LAST"), "customer_id"],
        unique=False,
    )
    op.create_index("ix_call_tasks_status", "call_tasks", ["campaign_id", "status", "customer_id"], unique=False)
    op.create_index(
        "ix_campaign_conversions_member",
        "campaign_conversions",
        ["campaign_id", "customer_id", "grp"],
        unique=False,
        postgresql_include=["ordered_at", "amount"],
    )
    for table, (kind, column) in TALLIED.items():
        op.execute(_function(table))
        # Writers wait while the tallies are filled, so no change is missed between the fill and the triggers.
        op.execute(f"LOCK TABLE {table} IN SHARE MODE")
        for name, when in _triggers(table).items():
            op.execute(f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT EXECUTE FUNCTION {table}_tally()")
        op.execute(f"""
            INSERT INTO campaign_tallies (campaign_id, kind, value, n)
            SELECT campaign_id, '{kind}', {column}, count(*) FROM {table} GROUP BY campaign_id, {column}""")


def downgrade() -> None:
    for table in TALLIED:
        for name in _triggers(table):
            op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute(f"DROP FUNCTION {table}_tally()")
    op.drop_index("ix_campaign_conversions_member", table_name="campaign_conversions")
    op.drop_index("ix_call_tasks_status", table_name="call_tasks")
    op.drop_index("ix_audience_customers_sample", table_name="audience_customers")
    op.drop_index("ix_campaign_recipients_provider_ref", table_name="campaign_recipients")
    op.drop_index("ix_campaign_tallies_campaign_id", table_name="campaign_tallies")
    op.drop_table("campaign_tallies")
