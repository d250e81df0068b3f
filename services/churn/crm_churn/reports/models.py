"""The churn-rate ledger: the "active at month start" figures of every customer as signed deltas by month
and by the customer's current report dimensions, so the churn-rate report sums a small table instead of
scanning every customer and order (crm_churn/reports/ledger.py keeps it)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, Date, Identity, Numeric, String
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
