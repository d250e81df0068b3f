"""Win-back cases (one per churn record, eligible or excluded) and the actions taken on them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base

OPEN_STATES = ("analysis", "implementation")  # the window runs; an order wins the case
CLOSED_STATES = ("won", "lost")  # assessed


class WinbackCase(Base):
    """The case of one churn record. `status`: analysis (eligible, no owner yet), implementation (owner
    assigned, actions taken), won / lost (assessment), excluded (failed the eligibility rules, or excluded
    by hand: `exclusion` says why), merged (a customer merge folded its record into another: its actions
    and cost moved to that record's case, `merged_into`; counted in no success rate). `expected_value` is
    the customer's CLV at churn (or a year's profit, revenue x margin, when scoring had none); `cost` sums
    the actions' costs (offers included)."""

    __tablename__ = "winback_cases"
    __table_args__ = (
        CheckConstraint("status IN ('analysis', 'implementation', 'won', 'lost', 'excluded', 'merged')", name="status"),
        Index("ix_winback_cases_opened", "opened_at", "id"),
        Index("ix_winback_cases_customer", "customer_id"),
        Index(
            "ix_winback_cases_window",
            "window_ends_at",
            postgresql_where=text("status IN ('analysis', 'implementation')"),
        ),
        Index(
            "ix_winback_cases_similar",
            "primary_reason",
            "value_band",
            "strategy",
            postgresql_where=text("status IN ('won', 'lost')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("churn_records.id"), unique=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16))
    exclusion_rule: Mapped[str | None] = mapped_column(String(16))
    exclusion: Mapped[str | None] = mapped_column(Text)
    reasons: Mapped[list[str]] = mapped_column(ARRAY(String(64)), server_default=text("'{}'"))
    primary_reason: Mapped[str | None] = mapped_column(String(64))
    expected_value: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    value_band: Mapped[str | None] = mapped_column(String(1))
    strategy: Mapped[str | None] = mapped_column(String(32))
    requires_senior: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    owner: Mapped[str | None] = mapped_column(String(100))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    order_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    benefit: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    cost: Mapped[Decimal] = mapped_column(Numeric(14, 2), server_default=text("0"))
    note: Mapped[str | None] = mapped_column(Text)
    # status 'merged': a customer merge folded this case's record into another; the case it joined.
    merged_into: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WinbackAction(Base):
    """What happened on a case: assignments, conversations, offers (`offer_value`: confidential), bulk
    outreach, exclusions, closings; newest last."""

    __tablename__ = "winback_actions"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('assigned', 'personal_conversation', 'tailored_offer', 'bulk_outreach', 'excluded', "
            "'included', 'reassessed', 'closed')",
            name="kind",
        ),
        Index("ix_winback_actions_case", "case_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("winback_cases.id"))
    kind: Mapped[str] = mapped_column(String(32))
    by: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    note: Mapped[str | None] = mapped_column(Text)
    cost: Mapped[Decimal] = mapped_column(Numeric(14, 2), server_default=text("0"))
    offer_value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))


class WinbackMonthTotal(Base):
    """The closed (won or lost) cases of a closing month (UTC, by coalesce(closed_at, window_ends_at)) under
    one report key: `dim` '' (`value` ''), 'reason', 'strategy' or 'owner' (`value` the report's label:
    'unclassified', 'none', 'unassigned' when missing). Signed counts and sums appended by statement triggers
    on winback_cases (migration 0007) in every writer's transaction, folded by the sweep's periodic
    compaction: the report sums a few rows per month instead of grouping every closed case (totals.py)."""

    __tablename__ = "winback_month_totals"
    __table_args__ = (Index("ix_winback_month_totals_key", "dim", "m"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    m: Mapped[date] = mapped_column(Date)
    dim: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(100))
    n: Mapped[int] = mapped_column(BigInteger)
    won: Mapped[int] = mapped_column(BigInteger)
    benefit: Mapped[Decimal] = mapped_column(Numeric(18, 2))  # of the won cases
    cost: Mapped[Decimal] = mapped_column(Numeric(18, 2))
