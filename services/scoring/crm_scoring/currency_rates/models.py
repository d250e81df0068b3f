"""Dated exchange rates: one unit of `currency` is worth `rate` units of `quote_currency` from `valid_from` on
(until the next rate of the pair). Keyed by the quote too, so a change of reporting currency never reads
rates quoted in the previous one."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, DateTime, Numeric, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base


class CurrencyRate(Base):
    __tablename__ = "currency_rates"
    __table_args__ = (
        CheckConstraint("rate > 0", name="rate_positive"),
        CheckConstraint("currency <> quote_currency", name="other_currency"),
    )

    # Key order = the summaries' lookup: the quote, the currency, then the latest valid_from <= the order day.
    quote_currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    valid_from: Mapped[date] = mapped_column(Date, primary_key=True)
    rate: Mapped[Decimal] = mapped_column(Numeric(20, 10))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str | None] = mapped_column(String(100))
