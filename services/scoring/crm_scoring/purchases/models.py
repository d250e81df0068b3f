"""What the scoring service knows of customers and their orders: a copy kept current from the customer
service's events (or rebuilt from its NDJSON export), so scores can be recomputed as of any date."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, Computed, DateTime, ForeignKey, Index, Numeric, String, func, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base


class Purchase(Base):
    """One order. Cancellation and refunds keep their time, so an as-of recompute counts an order cancelled
    later, and subtracts a refund only from the date it was made. `refunded_amount` and `refunded_at` are the
    running total and the latest refund's time (a recompute as of a later date needs nothing else); each
    refund before that is in `PurchaseRefund`."""

    __tablename__ = "purchases"
    __table_args__ = (
        CheckConstraint("refunded_amount >= 0 AND refunded_amount <= amount", name="refund_within_amount"),
        Index("ix_purchases_customer_id_ordered_at", "customer_id", "ordered_at"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    ordered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    refunded_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), server_default=text("0"))
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    product_lines: Mapped[list[str]] = mapped_column(ARRAY(String(100)), server_default=text("'{}'"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Whole cents of the amount and the refunded total, kept by PostgreSQL for the batch's read of every order
    # (compute/summary.py): the net in cents from them is integer arithmetic, where numeric arithmetic and its
    # cast to int8 were a third of the read's backend CPU (at 10M orders ~2.6 of ~8 s).
    amount_cents: Mapped[int] = mapped_column(BigInteger, Computed("(amount * 100)::bigint", persisted=True))
    refunded_cents: Mapped[int] = mapped_column(BigInteger, Computed("(refunded_amount * 100)::bigint", persisted=True))


class PurchaseRefund(Base):
    """A refund of an order, as the order's refunded total once it was made and when (the customer service's
    `order.refunded` carries the running total). A recompute as of a date subtracts the largest total reached
    by then, so a date between two partial refunds counts the first one only. Totals only grow, so the pair
    (order, total) identifies a refund whatever order its event arrives in, and a redelivery adds nothing."""

    __tablename__ = "purchase_refunds"

    order_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("purchases.order_id", ondelete="CASCADE"), primary_key=True
    )
    refunded_total: Mapped[Decimal] = mapped_column(Numeric(14, 2), primary_key=True)
    refunded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class KnownCustomer(Base):
    """A customer the service has heard of, with the attributes the composite score reads. A merged customer
    keeps its row with `merged_into`, so late events about it land on the survivor."""

    __tablename__ = "known_customers"
    # Merges resolve ids merged into the merged one; the batch skips merged customers.
    __table_args__ = (
        Index("ix_known_customers_merged_into", "merged_into", postgresql_where=text("merged_into IS NOT NULL")),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    payment_terms: Mapped[str | None] = mapped_column(String(16))
    brand_contribution: Mapped[str | None] = mapped_column(String(24))
    declared_budget: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    share_of_wallet: Mapped[Decimal | None] = mapped_column(Numeric(5, 4))
    merged_into: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
