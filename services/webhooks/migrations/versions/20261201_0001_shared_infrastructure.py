"""shared infrastructure: outbox, inbox and its dead letters, idempotency keys, audit log

Revision ID: 0001
Revises:
Create Date: 2026-12-01 20:33:04.000000
"""

from collections.abc import Sequence

from alembic import op

from crm_shared.migrations import (
    create_infrastructure_v1,
    create_infrastructure_v2,
    create_infrastructure_v3,
    drop_infrastructure_v1,
    drop_infrastructure_v2,
    drop_infrastructure_v3,
)

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The shared tables as crm_shared.migrations froze them, every version in order, so this service's schema
# matches the others'. The service's own tables come in later revisions (`make revision S=webhooks M=...`).
def upgrade() -> None:
    create_infrastructure_v1(op)
    create_infrastructure_v2(op)
    create_infrastructure_v3(op)


def downgrade() -> None:
    drop_infrastructure_v3(op)
    drop_infrastructure_v2(op)
    drop_infrastructure_v1(op)
