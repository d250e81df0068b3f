"""dated exchange rates (currency_rates) and the tenant rule set (reporting currency, time zone), so spend is
converted instead of summed across currencies and purchase days are the tenant's days (issue 12, findings 6, 7)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-18 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from crm_scoring.currency_rates.codes import CURRENCIES

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The new rule set's defaults (frozen copy of crm_scoring.rules.schemas.Tenant()).
TENANT_RULES_V1 = {"reporting_currency": "EUR", "time_zone": "UTC"}


def upgrade() -> None:
    op.create_table(
        "currency_rates",
        sa.Column("quote_currency", sa.String(length=3), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("rate", sa.Numeric(precision=20, scale=10), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=True),
        sa.CheckConstraint("currency <> quote_currency", name=op.f("ck_currency_rates_other_currency")),
        sa.CheckConstraint("rate > 0", name=op.f("ck_currency_rates_rate_positive")),
        sa.PrimaryKeyConstraint("quote_currency", "currency", "valid_from", name=op.f("pk_currency_rates")),
    )
    # A tenant with orders already keeps its figures: its reporting currency is the one most of them are in.
    common = op.get_bind().scalar(
        sa.text("SELECT currency FROM purchases GROUP BY currency ORDER BY count(*) DESC, currency LIMIT 1")
    )
    rules = {**TENANT_RULES_V1, "reporting_currency": common} if common in CURRENCIES else TENANT_RULES_V1
    rule_sets = sa.table("rule_sets", sa.column("name", sa.String), sa.column("rules", postgresql.JSONB))
    op.bulk_insert(rule_sets, [{"name": "tenant", "rules": rules}])


def downgrade() -> None:
    op.execute("DELETE FROM rule_sets WHERE name = 'tenant'")
    op.drop_table("currency_rates")
