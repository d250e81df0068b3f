"""The churn service's read model of each customer, kept from customer and scoring events: the value it
records at churn (CLV, ABC class, composite score, stage, segment, region), the churn-risk clock of the
inferred rule, and the evidence of reasons and watchlist signals (orders, complaints, last interaction)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ARRAY, DateTime, Double, Index, Integer, Numeric, String, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base


class CustomerValue(Base):
    """One row per customer seen in any event. `risk_since`: when churn risk last went over the configured
    threshold (null while under it); `merged_into`: the survivor after a merge (its rows then belong there)."""

    __tablename__ = "customer_values"

    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(300))
    region: Mapped[str | None] = mapped_column(String(100))
    clv: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    abc_class: Mapped[str | None] = mapped_column(String(1))
    composite_score: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    rfm_segment: Mapped[str | None] = mapped_column(String(32))
    stage: Mapped[str | None] = mapped_column(String(16))
    # The as_of of the lifecycle.changed that set `stage`: an older one delivered late changes nothing.
    stage_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    churn_risk: Mapped[float | None] = mapped_column(Double)
    risk_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_order_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_order_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_order_channel: Mapped[str | None] = mapped_column(String(32))
    last_interaction_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    merged_into: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # When the customer became known to the suite (customer.created, else the first event seen): the
    # "active at period start" denominator of the churn rate counts customers known before the period.
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CustomerOrder(Base):
    """A copy of each order (`order.created`): revenue of the last 12 months at churn, won-back detection,
    and the watchlist's frequency/value and product-line signals."""

    __tablename__ = "customer_orders"
    __table_args__ = (Index("ix_customer_orders_customer_ordered", "customer_id", "ordered_at"),)

    order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    ordered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    channel: Mapped[str | None] = mapped_column(String(32))
    product_lines: Mapped[list[str]] = mapped_column(ARRAY(String(100)), server_default=text("'{}'"))


class CustomerComplaint(Base):
    """The latest state of each complaint (`complaint.*`): evidence for suggested reasons (unresolved ->
    left dissatisfied; a price category -> price) and the watchlist's complaint signal."""

    __tablename__ = "customer_complaints"
    __table_args__ = (Index("ix_customer_complaints_customer", "customer_id"),)

    complaint_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    number: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(300))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reopen_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    version: Mapped[int] = mapped_column(Integer)  # the complaint's version: an older event changes nothing
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
