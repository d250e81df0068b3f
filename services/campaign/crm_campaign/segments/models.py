from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Integer, String, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base


class Segment(Base):
    """A target segment: a rule tree (and/or/not over audience fields, see segments/rules.py) evaluated
    as one SQL WHERE over the audience read model. `dynamic` segments are re-evaluated at each send;
    `frozen` ones keep the audience the launch evaluated."""

    __tablename__ = "segments"
    __table_args__ = (CheckConstraint("mode IN ('dynamic', 'frozen')", name="mode"),)

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(String(1000))
    rules: Mapped[dict[str, Any]] = mapped_column(JSONB)
    mode: Mapped[str] = mapped_column(String(16), server_default=text("'dynamic'"))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
