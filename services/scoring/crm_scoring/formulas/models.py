"""Versioned composite-score formulas: rules as data, one version active at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base


class FormulaVersion(Base):
    __tablename__ = "formula_versions"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'active', 'retired')", name="status"),
        # At most one active version: activation retires the previous one in the same transaction.
        Index("uq_formula_versions_active", "status", unique=True, postgresql_where=text("status = 'active'")),
    )

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # json, not jsonb: jsonb reorders object keys, and the terms' order is the order they are explained in.
    formula: Mapped[dict[str, Any]] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(Text, server_default="")
    status: Mapped[str] = mapped_column(String(12), server_default=text("'draft'"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str | None] = mapped_column(String(100))
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    activated_by: Mapped[str | None] = mapped_column(String(100))
