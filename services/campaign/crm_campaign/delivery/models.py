from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base

CALL_OUTCOMES = ("reached", "no_answer", "declined", "wrong_number", "callback")


class ConsentForward(Base):
    """A consent change made here (an unsubscribe link) that the customer service must record: written in
    the transaction that also updates the local read model, then forwarded at once and, while the customer
    service is unreachable, retried by the delivery worker. Consent itself is the customer service's."""

    __tablename__ = "consent_forwards"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'sms', 'mail', 'phone')", name="channel"),
        CheckConstraint("status IN ('opted_in', 'opted_out')", name="status"),
        Index("ix_consent_forwards_pending", "next_attempt_at", postgresql_where=text("forwarded_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    channel: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(100))
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    forwarded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_error: Mapped[str | None] = mapped_column(String(500))


class DeliveryBatch(Base):
    """Postal mail or phone recipients handed over at once: a print file (CSV) or a call list (CSV plus one
    call task per customer). The batch's recipients are `sent` with provider_ref `batch:<id>`."""

    __tablename__ = "delivery_batches"
    __table_args__ = (CheckConstraint("channel IN ('mail', 'phone')", name="channel"),)

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("campaigns.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    size: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CallTask(Base):
    """One call to make for a phone campaign, with its outcome once made."""

    __tablename__ = "call_tasks"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'done')", name="status"),
        CheckConstraint(f"outcome IN ({', '.join(repr(o) for o in CALL_OUTCOMES)})", name="outcome"),
        CheckConstraint("(status = 'done') = (outcome IS NOT NULL)", name="done_has_outcome"),
        Index("ix_call_tasks_batch_id", "batch_id"),
        # The call list filtered by status, in its order (customer id): an index start at any page.
        Index("ix_call_tasks_status", "campaign_id", "status", "customer_id"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("campaigns.id"), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("delivery_batches.id"))
    status: Mapped[str] = mapped_column(String(8), server_default=text("'open'"))
    outcome: Mapped[str | None] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(String(2000))
    done_by: Mapped[str | None] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
