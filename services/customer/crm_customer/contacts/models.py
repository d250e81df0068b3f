from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base


class Contact(Base):
    """A person care and outreach can address on behalf of a customer: a company's employee, an
    individual's family member or assistant."""

    __tablename__ = "contacts"
    __table_args__ = (
        CheckConstraint("relation IN ('employee', 'family_member', 'assistant', 'partner', 'other')", name="relation"),
        Index("ix_contacts_customer_id", "customer_id"),
        Index("ix_contacts_email", "email"),
        Index("ix_contacts_phone", "phone"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    relation: Mapped[str] = mapped_column(String(24))
    role: Mapped[str | None] = mapped_column(String(100))  # e.g. "purchasing manager"
    email: Mapped[str | None] = mapped_column(String(320))  # normalized
    phone: Mapped[str | None] = mapped_column(String(40))  # normalized
    is_primary: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
