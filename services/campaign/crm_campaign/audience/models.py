from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    Index,
    Integer,
    Numeric,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base

CONSENT = "status IN ('opted_in', 'opted_out')"


class AudienceCustomer(Base):
    """The campaign service's read model of a customer: what segments filter on and what delivery needs,
    filled by the bulk sync and kept current by customer and scoring events, so a launch reads one table
    and never calls another service per customer. A consent of null means nothing recorded: marketing
    needs an explicit opt-in."""

    __tablename__ = "audience_customers"
    __table_args__ = (
        CheckConstraint("kind IN ('individual', 'company')", name="kind"),
        CheckConstraint(CONSENT.replace("status", "consent_email"), name="consent_email"),
        CheckConstraint(CONSENT.replace("status", "consent_sms"), name="consent_sms"),
        CheckConstraint(CONSENT.replace("status", "consent_mail"), name="consent_mail"),
        CheckConstraint(CONSENT.replace("status", "consent_phone"), name="consent_phone"),
        CheckConstraint("preferred_channel IN ('email', 'sms', 'mail', 'phone')", name="preferred_channel"),
        CheckConstraint("abc_class IN ('A', 'B', 'C')", name="abc_class"),
        CheckConstraint("max_contacts_per_month >= 0", name="max_contacts"),
        Index("ix_audience_customers_tags", "tags", postgresql_using="gin"),
        # A segment preview's sample (best composite scores first) walks this and stops at the sample's size.
        Index("ix_audience_customers_sample", text("composite_score DESC NULLS LAST"), "customer_id"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # -- customer fields (customer service) --
    kind: Mapped[str] = mapped_column(String(16), server_default=text("'individual'"))
    display_name: Mapped[str | None] = mapped_column(String(300))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    region: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    # IANA zone for quiet hours; null: the service's default zone (settings.default_time_zone).
    time_zone: Mapped[str | None] = mapped_column(String(64))
    customer_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(64)), server_default=text("'{}'"))
    consent_email: Mapped[str | None] = mapped_column(String(16))
    consent_sms: Mapped[str | None] = mapped_column(String(16))
    consent_mail: Mapped[str | None] = mapped_column(String(16))
    consent_phone: Mapped[str | None] = mapped_column(String(16))
    # When each consent took effect: a late delivery of an older change never overrides a newer one.
    consent_email_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    consent_sms_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    consent_mail_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    consent_phone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    preferred_channel: Mapped[str | None] = mapped_column(String(16))
    max_contacts_per_month: Mapped[int | None] = mapped_column(Integer)
    # A merged customer resolves to its survivor and is never targeted itself.
    merged_into: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    customer_version: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # -- scoring fields (scoring service) --
    stage: Mapped[str | None] = mapped_column(String(16))
    abc_class: Mapped[str | None] = mapped_column(String(1))
    rfm_segment: Mapped[str | None] = mapped_column(String(64))
    gold: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    drag: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    clv: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    p_alive: Mapped[float | None] = mapped_column(Float)
    churn_risk: Mapped[float | None] = mapped_column(Float)
    composite_score: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    scores_as_of: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
