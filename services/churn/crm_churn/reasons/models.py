from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base


class ChurnReason(Base):
    """A churn reason in one of the taxonomies (`cause`, `recoverability`); both defaults of DOMAIN.md 3
    are seeded by the migration (system). Retired reasons keep the records that cite them but take no new."""

    __tablename__ = "churn_reasons"
    __table_args__ = (
        CheckConstraint("key ~ '^[a-z][a-z0-9_]{0,63}$'", name="key_format"),
        CheckConstraint("taxonomy IN ('cause', 'recoverability')", name="taxonomy"),
    )

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    taxonomy: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    controllable: Mapped[bool] = mapped_column(Boolean)
    system: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
