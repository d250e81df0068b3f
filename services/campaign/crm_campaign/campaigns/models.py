from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
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

CHANNELS = ("email", "sms", "mail", "phone")
OBJECTIVES = ("retention", "win_back", "cross_sell", "reactivation")
CAMPAIGN_STATUSES = ("draft", "launched", "cancelled")
GROUPS = ("treatment", "control", "global_control")
RECIPIENT_STATUSES = ("queued", "sent", "failed", "suppressed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Campaign(Base):
    """A campaign: who (segment), how (channel, template), when (schedule), at what cost, and the share of
    the audience held out as its control group (assigned from `seed`, so the split is reproducible).
    `kind` = transactional messages skip marketing caps and holdouts; marketing ones never do."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(_in("objective", OBJECTIVES), name="objective"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint("kind IN ('marketing', 'transactional')", name="kind"),
        CheckConstraint(_in("status", CAMPAIGN_STATUSES), name="status"),
        CheckConstraint("control_share >= 0 AND control_share < 1", name="control_share"),
        CheckConstraint("cost_per_contact >= 0", name="cost_per_contact"),
        CheckConstraint("budget IS NULL OR budget >= 0", name="budget"),
        CheckConstraint("attribution_days BETWEEN 1 AND 365", name="attribution_days"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    name: Mapped[str] = mapped_column(String(200))
    objective: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16), server_default=text("'marketing'"))
    segment_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("segments.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str | None] = mapped_column(String(300))
    template: Mapped[str] = mapped_column(Text)
    scheduled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cost_per_contact: Mapped[Decimal] = mapped_column(Numeric(12, 4), server_default=text("0"))
    budget: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    control_share: Mapped[Decimal] = mapped_column(Numeric(5, 4), server_default=text("0.1"))
    stratify_by_abc: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    seed: Mapped[int] = mapped_column(BigInteger)
    attribution_days: Mapped[int] = mapped_column(Integer, server_default=text("30"))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'draft'"))
    launched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CampaignMember(Base):
    """The audience a launch evaluated, each customer in one group: `treatment` (contacted), `control`
    (held out by this campaign) or `global_control` (held out of every marketing campaign). Attribution
    counts orders of all three groups."""

    __tablename__ = "campaign_members"
    __table_args__ = (
        CheckConstraint(_in("grp", GROUPS), name="grp"),
        # Attribution looks up an ordering customer's memberships.
        Index("ix_campaign_members_customer_id", "customer_id"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("campaigns.id"), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    grp: Mapped[str] = mapped_column(String(16))
    stratum: Mapped[str | None] = mapped_column(String(1))
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Recipient(Base):
    """A treatment member's delivery: `queued` by the launch (not before `not_before`, set by quiet hours),
    then `sent` or `failed` by the delivery workers, or `suppressed` with the rule that stopped it
    (at launch or re-checked at send)."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        CheckConstraint(_in("status", RECIPIENT_STATUSES), name="status"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        Index("ix_campaign_recipients_queued", "not_before", postgresql_where=text("status = 'queued'")),
        Index("ix_campaign_recipients_customer_id", "customer_id"),
        # A batch's CSV reads its recipients by the batch's reference.
        Index("ix_campaign_recipients_provider_ref", "campaign_id", "provider_ref"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("campaigns.id"), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(String(500))
    provider_ref: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ContactLog(Base):
    """Every message actually sent, for the frequency caps (marketing rows count; transactional are
    logged but exempt)."""

    __tablename__ = "contact_log"
    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint("kind IN ('marketing', 'transactional')", name="kind"),
        Index("ix_contact_log_customer_id_sent_at", "customer_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("campaigns.id"))
    channel: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class GlobalHoldout(Base):
    """A global control group: `share` of all customers (chosen by hash of `seed` and customer id) held out
    of every marketing campaign from `starts_at` to `ends_at`."""

    __tablename__ = "global_holdouts"
    __table_args__ = (
        CheckConstraint("share > 0 AND share < 1", name="share"),
        CheckConstraint("ends_at > starts_at", name="period"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    name: Mapped[str] = mapped_column(String(200))
    share: Mapped[Decimal] = mapped_column(Numeric(5, 4))
    seed: Mapped[int] = mapped_column(BigInteger)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Conversion(Base):
    """An order by a campaign member within the attribution window (any group), attributed once."""

    __tablename__ = "campaign_conversions"
    __table_args__ = (
        CheckConstraint(_in("grp", GROUPS), name="grp"),
        # The result groups a campaign's conversions per member: read in that order from the index alone
        # (conversions are only inserted, so the visibility map stays set).
        Index(
            "ix_campaign_conversions_member",
            "campaign_id",
            "customer_id",
            "grp",
            postgresql_include=["ordered_at", "amount"],
        ),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("campaigns.id"), primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    grp: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    ordered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attributed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CampaignTally(Base):
    """A campaign's members per group (`kind` 'group') and recipients per status (`kind` 'status') as signed
    counts, appended by statement triggers on campaign_members and campaign_recipients (migration 0006) in the
    transaction of every write, whoever writes; summed on read, so a result never counts a launch's rows."""

    __tablename__ = "campaign_tallies"
    __table_args__ = (
        CheckConstraint("kind IN ('group', 'status')", name="kind"),
        Index("ix_campaign_tallies_campaign_id", "campaign_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(16))
    n: Mapped[int] = mapped_column(BigInteger)
