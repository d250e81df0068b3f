from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Identity, Index, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from crm_shared.schemas.events import ConsentChannel

from ..base import Base

CHANNELS: tuple[ConsentChannel, ...] = ("email", "sms", "mail", "phone")


class ConsentRecord(Base):
    """The history: every opt-in and opt-out, with where it came from. Never updated."""

    __tablename__ = "consent_records"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'sms', 'mail', 'phone')", name="channel"),
        CheckConstraint("status IN ('opted_in', 'opted_out')", name="status"),
        Index("ix_consent_records_customer_id_recorded_at", "customer_id", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(100))  # e.g. "web form", "unsubscribe link", "call centre"
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Consent(Base):
    """The current state per customer and channel (the latest record), read by outreach."""

    __tablename__ = "consents"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'sms', 'mail', 'phone')", name="channel"),
        CheckConstraint("status IN ('opted_in', 'opted_out')", name="status"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
