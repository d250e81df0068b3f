from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base


class CustomerMerge(Base):
    """A merge: `merged_id` was folded into `survivor_id` and keeps resolving to it."""

    __tablename__ = "customer_merges"
    __table_args__ = (Index("ix_customer_merges_survivor_id", "survivor_id"),)

    merged_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"), primary_key=True)
    survivor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"))
    merged_by: Mapped[str | None] = mapped_column(String(100))
    merged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
