from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, String, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base


class Tag(Base):
    """A positioning tag: the system ones (key_account, loyal, potential, complainant, member) are
    seeded by the migration; firms add their own."""

    __tablename__ = "tags"
    __table_args__ = (CheckConstraint("key ~ '^[a-z][a-z0-9_]{0,63}$'", name="key_format"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    system: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CustomerTag(Base):
    __tablename__ = "customer_tags"
    __table_args__ = (CheckConstraint("source IN ('manual', 'rule')", name="source"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"), primary_key=True)
    tag_key: Mapped[str] = mapped_column(String(64), ForeignKey("tags.key"), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), server_default=text("'manual'"))
    added_by: Mapped[str | None] = mapped_column(String(100))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
