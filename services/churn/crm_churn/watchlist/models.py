"""The watchlist's projection: one row per customer with the signals that put it on the list and its value
at risk, refreshed from the churn read model (crm_churn/customers) by this domain's event handlers; and the
settings documents (watchlist thresholds, win-back rules) kept as versioned data."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, DateTime, Float, Index, Integer, Numeric, SmallInteger, String, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base

# The order the watchlist is read in (all descending): priority tier, value at risk, id. Every list
# filter on a stored flag has its partial index in that order, so a page is an index range, not a scan.
ORDER_COLUMNS = ("tier", "value_at_risk", "customer_id")
_LIVE = "listed"


class WatchEntry(Base):
    """A customer's watchlist signals. Counts and value are copied from the read model when an event
    touches the customer (so they are as order-independent as the read model); `fall` comes from
    `score.changed` (how far CLV or the composite score fell at the last change); the flags derive from
    them and the settings (see repository.refresh_flags). Time-dependent signals (silence, no order this
    year) are compared with the clock when the list is read."""

    __tablename__ = "watchlist_entries"
    __table_args__ = (
        Index("ix_watchlist_entries_order", *ORDER_COLUMNS, postgresql_where=text(_LIVE)),
        Index(
            "ix_watchlist_entries_complaints", *ORDER_COLUMNS, postgresql_where=text(f"{_LIVE} AND open_complaints > 0")
        ),
        Index("ix_watchlist_entries_declining", *ORDER_COLUMNS, postgresql_where=text(f"{_LIVE} AND declining")),
        Index("ix_watchlist_entries_narrow", *ORDER_COLUMNS, postgresql_where=text(f"{_LIVE} AND narrow")),
        Index("ix_watchlist_entries_gold", *ORDER_COLUMNS, postgresql_where=text(f"{_LIVE} AND gold")),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # Neither merged into another customer nor churned (a churned customer is win-back's, not at risk).
    listed: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    merged_into: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    region: Mapped[str | None] = mapped_column(String(100))
    abc_class: Mapped[str | None] = mapped_column(String(1))
    stage: Mapped[str | None] = mapped_column(String(16))
    clv: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    churn_risk: Mapped[float | None] = mapped_column(Float)
    gold: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    fall: Mapped[float] = mapped_column(Float, server_default=text("0"))
    score_as_of: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    quiet_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_interaction_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_order_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    orders: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    product_lines: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    open_complaints: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    complaints: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    declining: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    narrow: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    tier: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    value_at_risk: Mapped[Decimal] = mapped_column(Numeric(14, 2), server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SettingsDocument(Base):
    """A named settings document, validated by its pydantic model before it is stored and versioned for
    If-Match: `watchlist` (the watchlist's thresholds) and `winback` (eligibility rules, offer guard)."""

    __tablename__ = "settings_documents"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str | None] = mapped_column(String(100))
