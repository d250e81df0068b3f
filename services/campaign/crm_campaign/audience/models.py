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
# The audience rows with sample_key below this are indexed with every column a segment rule reads (and
# merged_into): keep in step with segments/rules.py FIELDS (tests/campaign/test_segment_estimate.py checks).
SAMPLED_BELOW = 0.1
SAMPLED_COLUMNS = [
    "merged_into", "customer_id", "kind", "stage", "abc_class", "rfm_segment", "gold", "drag", "clv", "p_alive",
    "churn_risk", "composite_score", "tags", "region", "country", "customer_since", "preferred_channel",
    "consent_email", "consent_sms", "consent_mail", "consent_phone",
]  # fmt: skip


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
        # A large audience's preview counts its rules on the rows with sample_key < p (segments/estimate.py):
        # for p up to SAMPLED_BELOW from this small index holding every column a rule reads (an index-only scan:
        # the sampled rows are scattered over most of the table's pages), above it through the plain one.
        Index("ix_audience_customers_sample_key", "sample_key"),
        Index(
            "ix_audience_customers_sampled",
            "sample_key",
            postgresql_include=SAMPLED_COLUMNS,
            postgresql_where=text(f"sample_key < {SAMPLED_BELOW}"),
        ),
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
    # Uniform in [0, 1), drawn once at insert and never changed: rows with sample_key < p are a uniform random
    # sample of about p of the audience, independent of every other column.
    sample_key: Mapped[float] = mapped_column(Float, server_default=text("random()"))
