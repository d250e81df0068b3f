"""Customer contracts: individuals and companies, with partners' external references, and list filters."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from crm_shared.bounds import Amount, Instant, PlainDecimal
from crm_shared.pii import PiiEmail, PiiPhone, PiiText
from crm_shared.schemas.common import Money, ReadModel
from crm_shared.schemas.events import BrandContribution, CustomerKind, PaymentTerms, PreferredChannel
from crm_shared.text import SingleLine

from .normalize import email_key, normalize_email, normalize_phone, normalize_time_zone, phone_key

# Attributes the composite value score reads (DOMAIN.md 2); money as a decimal string in JSON, in the
# range every service accepts (crm_shared.bounds: the scoring service keeps these too).
_PLACES = Decimal("0.0001")  # the scale of the columns: a write reads back as it is stored
Budget = Amount
ShareOfWallet = Annotated[
    PlainDecimal, Field(ge=0, le=1, max_digits=5, decimal_places=4), AfterValidator(lambda v: v.quantize(_PLACES))
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SingleLine]
Line = Annotated[str, SingleLine]  # an address part, a reference: one line
Email = Annotated[str, AfterValidator(normalize_email)]  # stored as `email_key` spells it
Phone = Annotated[str, AfterValidator(lambda v: normalize_phone(v))]  # E.164; needs the country code
TimeZone = Annotated[str, StringConstraints(max_length=64), AfterValidator(normalize_time_zone)]
TIME_ZONE_DOC = "IANA time zone name (e.g. Europe/Madrid); quiet hours for campaigns follow it. Null: unknown"


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line1: Annotated[PiiText, SingleLine] | None = Field(default=None, max_length=200)
    line2: Annotated[PiiText, SingleLine] | None = Field(default=None, max_length=200)
    city: Line | None = Field(default=None, max_length=100)
    region: Line | None = Field(default=None, max_length=100)
    postal_code: Annotated[PiiText, SingleLine] | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


class ExternalRef(BaseModel):
    """A partner system's own id for this customer."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    partner: Line = Field(min_length=1, max_length=100)
    external_id: Line = Field(min_length=1, max_length=128)


class _ContactFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_name: Name | None = None
    last_name: Name | None = None
    company_name: Name | None = None
    # Before the phone: a national number takes the address's country.
    address: Address | None = None
    email: Email | None = Field(default=None, examples=["ana@example.com"])
    phone: str | None = Field(default=None, examples=["+34 600 123 456"], description="E.164 once stored")

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None, info: ValidationInfo) -> str | None:
        address = info.data.get("address")
        return normalize_phone(v, address.country if address is not None else None) if v is not None else None


class _ValueFields(BaseModel):
    """Optional attributes the value score and outreach read."""

    payment_terms: PaymentTerms | None = None
    brand_contribution: BrandContribution | None = None
    declared_budget: Budget | None = Field(default=None, examples=["25000.00"])
    share_of_wallet: ShareOfWallet | None = Field(default=None, examples=["0.25"], description="0 to 1")
    preferred_channel: PreferredChannel | None = None
    max_contacts_per_month: int | None = Field(default=None, ge=0, le=32767)
    time_zone: TimeZone | None = Field(default=None, examples=["Europe/Madrid"], description=TIME_ZONE_DOC)
    company_id: uuid.UUID | None = Field(default=None, description="the company customer an individual belongs to")


class CustomerCreate(_ValueFields, _ContactFields):
    kind: CustomerKind = "individual"
    external_refs: list[ExternalRef] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _named(self) -> CustomerCreate:
        if self.kind == "company" and not self.company_name:
            raise ValueError("a company customer needs company_name")
        if self.kind == "individual" and not (self.first_name or self.last_name):
            raise ValueError("an individual customer needs first_name or last_name")
        return self


class CustomerUpdate(_ValueFields, _ContactFields):
    """Every field optional; only the fields present are changed (null clears a field)."""


class CustomerRead(ReadModel):
    id: uuid.UUID
    kind: CustomerKind
    display_name: str
    first_name: str | None
    last_name: str | None
    company_name: str | None
    email: PiiEmail | None
    phone: PiiPhone | None
    address: Address | None
    external_refs: list[ExternalRef]
    company_id: uuid.UUID | None = None
    payment_terms: PaymentTerms | None = None
    brand_contribution: BrandContribution | None = None
    declared_budget: Money | None = None
    share_of_wallet: Money | None = None
    preferred_channel: PreferredChannel | None = None
    max_contacts_per_month: int | None = None
    time_zone: str | None = Field(default=None, description=TIME_ZONE_DOC)
    merged_into: uuid.UUID | None = Field(default=None, description="set when merged into another customer")
    version: int = Field(description="row version; the ETag of this customer")
    created_at: datetime
    updated_at: datetime


SORTABLE = ("created_at", "display_name")


class CustomerFilters(BaseModel):
    kind: CustomerKind | None = None
    email: str | None = Field(default=None, description="exact match, in any case or Unicode spelling")
    phone: str | None = Field(default=None, description="exact match in E.164, in any spelling")
    q: str | None = Field(
        default=None,
        min_length=2,
        max_length=100,
        description="display name contains this text, in any case (accents, spaces and punctuation count; % and _"
        " are literal)",
    )
    partner: str | None = Field(default=None, description="with external_id: the partner's reference")
    external_id: str | None = None
    company_id: uuid.UUID | None = Field(default=None, description="members of this company")
    tag: str | None = Field(default=None, max_length=64, description="customers carrying this tag")
    payment_terms: PaymentTerms | None = None
    created_from: Instant | None = None
    created_to: Instant | None = None
    include_merged: bool = Field(default=False, description="also list customers merged into others")

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return email_key(v) if v is not None else None  # the key emails are stored under

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return phone_key(v) if v is not None else None  # E.164, as phones are stored
