from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ARRAY, CheckConstraint, DateTime, ForeignKey, Index, Integer, Numeric, String, Text, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base

STATUSES = ("churned", "in_winback", "won_back", "lost")
OPEN_STATUSES = ("churned", "in_winback")  # a customer has at most one open record
SOURCES = ("declared", "lifecycle", "risk")


class ChurnRecord(Base):
    """A customer's churn: declared by an agent or inferred (lifecycle stage churned; churn risk over the
    threshold long enough), with the customer's value at churn copied from the read model, and its fate.
    `folded_into`: a merge folded this record into the survivor's open record (kept for history, left out
    of lists and reports)."""

    __tablename__ = "churn_records"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        CheckConstraint(f"source IN {SOURCES}", name="source"),
        CheckConstraint("margin >= 0 AND margin <= 1", name="margin_share"),
        Index(
            "uq_churn_records_open",
            "customer_id",
            unique=True,
            postgresql_where=text("status IN ('churned', 'in_winback') AND folded_into IS NULL"),
        ),
        Index("ix_churn_records_detected", "detected_at", "id"),
        Index("ix_churn_records_customer", "customer_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'churned'"))
    source: Mapped[str] = mapped_column(String(16))
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    declared_by: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    # Value at churn (copied from customer_values and customer_orders when detected).
    clv: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    abc_class: Mapped[str | None] = mapped_column(String(1))
    composite_score: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    revenue_12m: Mapped[Decimal] = mapped_column(Numeric(14, 2), server_default=text("0"))
    margin: Mapped[Decimal] = mapped_column(Numeric(5, 4))
    stage: Mapped[str | None] = mapped_column(String(16))
    segment: Mapped[str | None] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[str | None] = mapped_column(String(32))
    # The record's reason keys, sorted: kept by triggers on churn_record_reasons (migration 0005), read by
    # the reasons report (one scan grouped by reason set); written by nothing else.
    reason_keys: Mapped[list[str]] = mapped_column(ARRAY(String(64)), server_default=text("'{}'"))
    won_back_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    won_back_order_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    folded_into: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("churn_records.id"))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ChurnRecordReason(Base):
    __tablename__ = "churn_record_reasons"
    __table_args__ = (Index("ix_churn_record_reasons_reason", "reason_key"),)

    record_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("churn_records.id", ondelete="CASCADE"), primary_key=True
    )
    reason_key: Mapped[str] = mapped_column(String(64), ForeignKey("churn_reasons.key"), primary_key=True)
    added_by: Mapped[str | None] = mapped_column(String(100))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
