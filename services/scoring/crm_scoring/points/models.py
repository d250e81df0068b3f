"""The monthly membership points ledger: per customer and month, points equal to that month's composite score."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, DateTime, Index, Integer, Numeric, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base


class PointsEntry(Base):
    __tablename__ = "points_ledger"

    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True, index=True)  # first day of the month
    points: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    formula_version: Mapped[int | None] = mapped_column(Integer)
    run_id: Mapped[int | None] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# The ledger list's order (newest month first, then by customer): its first page read from the index instead
# of sorting every row of the month. Measured at 1M rows in one month: 205 ms -> 0.1 ms. A page deep inside
# one month reads the rest of its month from the primary key (customer, month) and the earlier months from
# here, each started at the position (repository.entries_after): 500k rows into a 1M month, p50 through the
# gateway 265 -> 13.5 ms (149 -> 0.3 ms in SQL).
Index("ix_points_ledger_month_desc_customer_id", PointsEntry.month.desc(), PointsEntry.customer_id)
