from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Index, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base

STATES = ("open", "won", "lost", "merged")  # merged: folded into another case by a customer merge


class WinbackCase(Base):
    """One win-back case of the churn service (winback.opened / won / lost). A closed case stays closed
    whatever order its events arrive in."""

    __tablename__ = "winback_cases"
    __table_args__ = (
        CheckConstraint("state IN ('open', 'won', 'lost', 'merged')", name="state"),
        # The segment field reads a customer's latest case.
        Index("ix_winback_cases_customer", "customer_id", "opened_at"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    state: Mapped[str] = mapped_column(String(8))
    strategy: Mapped[str | None] = mapped_column(String(100))
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
