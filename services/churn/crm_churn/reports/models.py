"""The churn-rate ledger: the "active at month start" figures of every customer as signed deltas by month
and by the customer's current report dimensions, so the churn-rate report sums a small table instead of
scanning every customer and order (crm_churn/reports/ledger.py keeps it)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import ARRAY, BigInteger, Boolean, Date, Identity, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base


class ChurnRateDelta(Base):
    """Summed over `m <= M` (and the filtered dimensions): the customers active at month start M and
    their revenue of the 12 months before it. Append-only between compactions (no row is updated in
    place, so concurrent writers never wait on each other here)."""

    __tablename__ = "churn_rate_deltas"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    m: Mapped[date] = mapped_column(Date)
    abc_class: Mapped[str | None] = mapped_column(String(1))
    stage: Mapped[str | None] = mapped_column(String(16))
    segment: Mapped[str | None] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[str | None] = mapped_column(String(32))
    n: Mapped[int] = mapped_column(BigInteger)
    revenue: Mapped[Decimal] = mapped_column(Numeric(18, 2))


class ChurnMonthTotal(Base):
    """The churned of a month (UTC, by detection) under one filter: `dim` '' (no filter, `value` ''), a report
    dimension (abc_class, stage, segment, region, channel: the record's value at churn) or 'reason' (a key the
    record cites), split by `won_back` (the profit-lost reports leave those out) and by the records' reason set
    (the reasons report counts them per set). Signed counts and sums of the unfolded records, appended by
    statement triggers on churn_records (migration 0006) in every writer's transaction, folded by the reports'
    periodic compaction: a report with at most one filter sums a few rows per month instead of scanning the
    period's records (reports/totals.py)."""

    __tablename__ = "churn_month_totals"
    __table_args__ = (Index("ix_churn_month_totals_filter", "dim", "value", "m"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    m: Mapped[date] = mapped_column(Date)
    dim: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(100))
    won_back: Mapped[bool] = mapped_column(Boolean)
    reason_keys: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    n: Mapped[int] = mapped_column(BigInteger)
    revenue: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    profit: Mapped[Decimal] = mapped_column(Numeric)  # revenue x margin, exact (the report rounds the sum)
    clv: Mapped[Decimal] = mapped_column(Numeric(18, 2))
