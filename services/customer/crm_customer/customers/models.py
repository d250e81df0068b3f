from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, Numeric, SmallInteger, String, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..base import Base


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint("kind IN ('individual', 'company')", name="kind"),
        CheckConstraint("payment_terms IN ('prepaid', 'cash', 'on_time', 'on_account')", name="payment_terms"),
        CheckConstraint(
            "brand_contribution IN ('none', 'public_figure', 'senior_position')", name="brand_contribution"
        ),
        CheckConstraint("share_of_wallet >= 0 AND share_of_wallet <= 1", name="share_of_wallet"),
        CheckConstraint("declared_budget >= 0", name="declared_budget"),
        CheckConstraint("preferred_channel IN ('email', 'sms', 'mail', 'phone')", name="preferred_channel"),
        CheckConstraint("max_contacts_per_month >= 0", name="max_contacts_per_month"),
        Index("ix_customers_company_id", "company_id"),
        Index("ix_customers_merged_into", "merged_into"),
        Index("ix_customers_email", "email"),
        Index("ix_customers_phone", "phone"),
        Index("ix_customers_created_at_id", "created_at", "id"),
        Index("ix_customers_display_name_id", "display_name", "id"),
        # customers `q=` on any server (the embedded one has no pg_trgm): the names' 2- and 3-character substrings,
        # lower-cased (SQL functions of migration 0008); `repository.name_contains` narrows with it and rechecks
        # with the ILIKE, for a q too rare to fill a page from the list's own order (service.list_customers).
        # Measured at 1M customers through the gateway (bench/reads, a machine shared with other work), p50/p95:
        # a q matching nothing 561/2,826 -> 21/24 ms, a full name 488/651 -> 34/35 ms, a common piece unchanged
        # (~20 ms: it fills its page from the list's order, as before).
        Index("ix_customers_name_grams", text("customer_name_grams(display_name)"), postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    kind: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(401))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    company_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))  # stored normalized (lower case)
    phone: Mapped[str | None] = mapped_column(String(40))  # stored normalized (+digits)
    address: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # An individual can belong to a company customer.
    company_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"))
    # Attributes the composite value score reads (DOMAIN.md 2).
    payment_terms: Mapped[str | None] = mapped_column(String(16))
    brand_contribution: Mapped[str | None] = mapped_column(String(24))
    declared_budget: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    share_of_wallet: Mapped[Decimal | None] = mapped_column(Numeric(5, 4))
    # Contact preferences (consent per channel lives in consent/).
    preferred_channel: Mapped[str | None] = mapped_column(String(16))
    max_contacts_per_month: Mapped[int | None] = mapped_column(SmallInteger)
    # IANA name (checked against the tz database on input); campaigns' quiet hours follow it.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    # Set when this customer was merged into another; reads of this id resolve to the survivor.
    merged_into: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"))
    merged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    external_refs: Mapped[list[CustomerRef]] = relationship(
        lazy="raise", order_by="CustomerRef.partner", foreign_keys="CustomerRef.customer_id"
    )


class CustomerRef(Base):
    """A partner's own id for a customer: (partner, external_id) resolves to one customer."""

    __tablename__ = "customer_refs"
    __table_args__ = (
        Index("ix_customer_refs_customer_id", "customer_id"),
        # customers `external_id=` alone (staff): the primary key starts with partner. Measured at 1M
        # references: 53 ms -> 0.08 ms.
        Index("ix_customer_refs_external_id", "external_id"),
        # A partner's customers (its own list: the EXISTS of `visible_to`; staff `partner=`): one index-only
        # probe per customer walked instead of reading its references. Measured at 1M customers, a 2% partner's
        # first page: 102 ms -> 14 ms.
        Index("ix_customer_refs_partner_customer_id", "partner", "customer_id"),
    )

    partner: Mapped[str] = mapped_column(String(100), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    # Deferred: the bulk order path claims a reference first and inserts the customer only if the
    # claim won, all in one transaction.
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("customers.id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"),
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
