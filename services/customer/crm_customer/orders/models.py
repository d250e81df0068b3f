from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base

MONEY = Numeric(18, 4)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("partner", "external_id"),
        CheckConstraint("status IN ('created', 'cancelled', 'partially_refunded', 'refunded')", name="status"),
        CheckConstraint("amount >= 0 AND refunded_amount >= 0 AND refunded_amount <= amount", name="amounts"),
        Index("ix_orders_customer_id_ordered_at", "customer_id", "ordered_at"),
        Index("ix_orders_ordered_at_id", "ordered_at", "id"),
        # A partner's orders newest first (every partner's own list, staff `partner=`): without it the walk
        # along ordered_at drops every other partner's rows. Measured at 10M orders, a 2% partner 100 pages
        # deep: 128 ms -> 2 ms (EXPLAIN ANALYZE, bench/reads base).
        Index("ix_orders_partner_ordered_at_id", "partner", "ordered_at", "id"),
        # `status=` in ordered_at order: a range scan of that status instead of a walk past every other one.
        # Measured at 10M orders: a status with no rows (`refunded`) 653 ms -> 0.08 ms; `cancelled` (3%,
        # spread over time) 0.7 ms either way.
        Index("ix_orders_status_ordered_at_id", "status", "ordered_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    # Insertion sequence: the keyset of the NDJSON export, so consumers can resume where they stopped.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=False), unique=True)
    partner: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"))
    ordered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    payment_method: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(32))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    status: Mapped[str] = mapped_column(String(24), server_default=text("'created'"))
    refunded_amount: Mapped[Decimal] = mapped_column(MONEY, server_default=text("0"))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
