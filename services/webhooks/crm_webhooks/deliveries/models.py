from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base

STATUSES = ("pending", "succeeded", "failed", "dead")


class Message(Base):
    """What is sent for one event (or test ping): the exact JSON body every delivery of it sends on every
    attempt (the signature covers it). Stored once however many subscriptions take the event; deleted by
    the worker's cleanup once no delivery refers to it."""

    __tablename__ = "webhook_messages"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)  # the event's id
    event_type: Mapped[str] = mapped_column(String(100))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Delivery(Base):
    """One message owed to one subscription, `id` its stable `webhook-id`. pending (never tried) and failed (retry at
    `next_attempt_at`) are due; succeeded and dead are final until a replay makes a dead one pending.
    A pass of the worker leases a due row by moving `next_attempt_at` past its attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'dead')", name="status"),
        # Event first: it also serves the lookups by message (the cleanup of messages nothing refers to).
        UniqueConstraint("event_id", "subscription_id", name="uq_webhook_deliveries_event"),
        Index("ix_webhook_deliveries_list", "subscription_id", "created_at", "id"),
        Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where=text("status IN ('pending', 'failed')")),
        # The gauges' count of unsettled deliveries (crm_webhooks.deliveries.gauges) reads only this.
        Index(
            "ix_webhook_deliveries_unsettled",
            "subscription_id",
            "status",
            "next_attempt_at",
            postgresql_where=text("status <> 'succeeded'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("webhook_messages.id"))
    event_type: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_response: Mapped[str | None] = mapped_column(String(65536))
    succeeded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
