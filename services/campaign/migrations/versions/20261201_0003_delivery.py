"""delivery: consent forwards, mail and call batches, call tasks

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 15:31:34.435880
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_forwards",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("forwarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.CheckConstraint("channel IN ('email', 'sms', 'mail', 'phone')", name=op.f("ck_consent_forwards_channel")),
        sa.CheckConstraint("status IN ('opted_in', 'opted_out')", name=op.f("ck_consent_forwards_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_forwards")),
    )
    op.create_index(
        "ix_consent_forwards_pending",
        "consent_forwards",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("forwarded_at IS NULL"),
    )
    op.create_table(
        "delivery_batches",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("channel IN ('mail', 'phone')", name=op.f("ck_delivery_batches_channel")),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_delivery_batches_campaign_id_campaigns")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_batches")),
    )
    op.create_index(op.f("ix_delivery_batches_campaign_id"), "delivery_batches", ["campaign_id"], unique=False)
    op.create_table(
        "call_tasks",
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("batch_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=8), server_default=sa.text("'open'"), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("notes", sa.String(length=2000), nullable=True),
        sa.Column("done_by", sa.String(length=100), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("(status = 'done') = (outcome IS NOT NULL)", name=op.f("ck_call_tasks_done_has_outcome")),
        sa.CheckConstraint(
            "outcome IN ('reached', 'no_answer', 'declined', 'wrong_number', 'callback')",
            name=op.f("ck_call_tasks_outcome"),
        ),
        sa.CheckConstraint("status IN ('open', 'done')", name=op.f("ck_call_tasks_status")),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["delivery_batches.id"], name=op.f("fk_call_tasks_batch_id_delivery_batches")
        ),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name=op.f("fk_call_tasks_campaign_id_campaigns")),
        sa.PrimaryKeyConstraint("campaign_id", "customer_id", name=op.f("pk_call_tasks")),
    )
    op.create_index("ix_call_tasks_batch_id", "call_tasks", ["batch_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_call_tasks_batch_id", table_name="call_tasks")
    op.drop_table("call_tasks")
    op.drop_index(op.f("ix_delivery_batches_campaign_id"), table_name="delivery_batches")
    op.drop_table("delivery_batches")
    op.drop_index(
        "ix_consent_forwards_pending", table_name="consent_forwards", postgresql_where=sa.text("forwarded_at IS NULL")
    )
    op.drop_table("consent_forwards")
