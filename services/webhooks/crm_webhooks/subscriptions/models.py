from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, Boolean, CheckConstraint, DateTime, Index, Integer, String, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base


class Subscription(Base):
    """Where events go: a receiver URL, the event type patterns and filters it takes, and its signing
    secret, encrypted (the previous one still signs too until `previous_secret_expires_at`, after a rotation).

    `partner`: the owning partner's client id, or null for a staff subscription; `pii`: its owner held
    pii:read, so it may receive payloads with personal data (crm_webhooks.catalogue)."""

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'paused')", name="status"),
        CheckConstraint("owner_kind IN ('partner', 'user', 'service')", name="owner_kind"),
        Index("ix_webhook_subscriptions_owner_list", "partner", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(500))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(100)))
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'active'"))
    owner_kind: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[str] = mapped_column(String(200))
    partner: Mapped[str | None] = mapped_column(String(200))
    pii: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Encrypted (crm_webhooks.sealing: `<key id>:<Fernet token>`): the service reads them back to sign.
    secret_sealed: Mapped[str] = mapped_column(String(500))
    previous_secret_sealed: Mapped[str | None] = mapped_column(String(500))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
