"""winback cases folded by a customer merge stay as a `merged` tombstone (winback.merged), so a late opening
cannot bring them back

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-18 12:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_winback_cases_state"), "winback_cases", type_="check")
    op.create_check_constraint(
        op.f("ck_winback_cases_state"), "winback_cases", "state IN ('open', 'won', 'lost', 'merged')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM winback_cases WHERE state = 'merged'")
    op.drop_constraint(op.f("ck_winback_cases_state"), "winback_cases", type_="check")
    op.create_check_constraint(op.f("ck_winback_cases_state"), "winback_cases", "state IN ('open', 'won', 'lost')")
