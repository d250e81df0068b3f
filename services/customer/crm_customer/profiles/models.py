from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Identity, Index, String, Text, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base


class ProfileAnswer(Base):
    """An answer to a short profile question ("drip" profiling); answers accumulate over time."""

    __tablename__ = "profile_answers"
    __table_args__ = (
        CheckConstraint("question_key ~ '^[a-z][a-z0-9_.]{0,63}$'", name="question_key_format"),
        Index("ix_profile_answers_customer_id_question_key_answered_at", "customer_id", "question_key", "answered_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"))
    question_key: Mapped[str] = mapped_column(String(64))
    answer: Mapped[str] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(String(16))
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
