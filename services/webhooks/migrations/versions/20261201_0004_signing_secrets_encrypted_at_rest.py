"""signing secrets encrypted at rest: secret_sealed and previous_secret_sealed replace the clear columns

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:20:00.000000

The existing secrets are sealed with the first of WEBHOOKS_SECRET_KEYS (crm_webhooks.sealing), read from
the service's settings only when there are rows to convert (a new database needs no key here); the
downgrade opens them again with those keys.
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "webhook_subscriptions"


def _convert(source: tuple[str, str], target: tuple[str, str], change: Callable[[str], str]) -> None:
    """Fill the target columns from the source ones, each value through `change`, row by row (a few
    thousand subscriptions at most)."""
    conn = op.get_bind()
    rows = conn.execute(sa.text(f"SELECT id, {source[0]}, {source[1]} FROM {TABLE}")).all()
    for row_id, current, previous in rows:
        conn.execute(
            sa.text(f"UPDATE {TABLE} SET {target[0]} = :current, {target[1]} = :previous WHERE id = :id"),
            {"id": row_id, "current": change(current), "previous": change(previous) if previous else None},
        )


def _switch(old: tuple[str, str], new: tuple[str, str], length: int, change: str) -> None:
    """Replace the (current, previous) secret columns `old` by `new`, each value through the box's
    `change` (seal or open)."""
    for column in new:
        op.add_column(TABLE, sa.Column(column, sa.String(length=length), nullable=True))
    if op.get_bind().execute(sa.text(f"SELECT EXISTS (SELECT 1 FROM {TABLE})")).scalar():
        from crm_webhooks.config import Settings

        _convert(old, new, getattr(Settings().secret_box(), change))
    op.alter_column(TABLE, new[0], nullable=False)
    for column in old:
        op.drop_column(TABLE, column)


def upgrade() -> None:
    _switch(("secret", "previous_secret"), ("secret_sealed", "previous_secret_sealed"), 500, "seal")


def downgrade() -> None:
    _switch(("secret_sealed", "previous_secret_sealed"), ("secret", "previous_secret"), 100, "open")
