from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, DateTime, Integer, Numeric, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base

DIMENSIONS = ("overall", "abc_class", "segment", "region")


class ChurnAlert(Base):
    """A mass-churn alert: a month's churn rate (overall, or of one ABC class, segment or region) over its
    baseline (the mean monthly rate of the preceding months) by the configured factor. One per month and
    scope; a later record of the same month updates its figures rather than raising another."""

    __tablename__ = "churn_alerts"
    __table_args__ = (
        UniqueConstraint("period_start", "dimension", "value", name="uq_churn_alerts_scope"),
        CheckConstraint(f"dimension IN {DIMENSIONS}", name="dimension"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    dimension: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(100))  # '' for overall
    churned: Mapped[int] = mapped_column(Integer)
    active_at_start: Mapped[int] = mapped_column(Integer)
    rate: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    baseline_rate: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    factor: Mapped[Decimal] = mapped_column(Numeric(9, 3))
    recommendation: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
