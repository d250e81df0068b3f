"""calibrations keep what the batch chose by evidence (issue 12): the churn-risk signal and the purchase model
with the figures behind the choice, and the trained churn classifier (skops) when the signal needs it

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-18 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The new rule set's defaults (frozen copy of crm_scoring.rules.schemas.Churn()).
CHURN_RULES_V1 = {"horizon_days": 365, "signal": "auto", "validation_share": 0.3}


def upgrade() -> None:
    op.add_column('calibrations', sa.Column('selection', postgresql.JSONB(), nullable=True))
    op.add_column('calibrations', sa.Column('churn_classifier', sa.LargeBinary(), nullable=True))
    rule_sets = sa.table("rule_sets", sa.column("name", sa.String), sa.column("rules", postgresql.JSONB))
    op.bulk_insert(rule_sets, [{"name": "churn", "rules": CHURN_RULES_V1}])


def downgrade() -> None:
    op.execute("DELETE FROM rule_sets WHERE name = 'churn'")
    op.drop_column('calibrations', 'churn_classifier')
    op.drop_column('calibrations', 'selection')
