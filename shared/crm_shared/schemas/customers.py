"""Customer contracts: individuals and companies, with partners' external references."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from ..pii import PiiEmail, PiiPhone, PiiText
from .common import Money, ReadModel

CustomerKind = Literal["individual", "company"]
PaymentTerms = Literal["prepaid", "cash", "on_time", "on_account"]
BrandContribution = Literal["none", "public_figure", "senior_position"]
PreferredChannel = Literal["email", "sms", "mail", "phone"]
# Attributes the composite value score reads (DOMAIN.md 2); money as a decimal string in JSON.
_PLACES = Decimal("0.0001")  # the scale of the columns: a write reads back as it is stored
Budget = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4), AfterValidator(lambda v: v.quantize(_PLACES))]
ShareOfWallet = Annotated[
    Decimal, Field(ge=0, le=1, max_digits=5, decimal_places=4), AfterValidator(lambda v: v.quantize(_PLACES))
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_CHARS = re.compile(r"[\s().\-/]")


def normalize_email(value: str) -> str:
    email = value.strip().lower()
    if len(email) > 320 or not _EMAIL.match(email):
        raise ValueError("not a valid email address")
    return email


def normalize_phone(value: str) -> str:
    """Digits with an optional leading +, separators removed: '+49 (30) 123-45' -> '+493012345'."""
    phone = _PHONE_CHARS.sub("", value.strip())
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    digits = phone[1:] if phone.startswith("+") else phone
    if not digits.isdigit() or not 5 <= len(digits) <= 17:
        raise ValueError("not a valid phone number (5 to 17 digits, optional leading +)")
    return phone


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line1: PiiText | None = Field(default=None, max_length=200)
    line2: PiiText | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: PiiText | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


class ExternalRef(BaseModel):
    """A partner system's own id for this customer."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    partner: str = Field(min_length=1, max_length=100)
    external_id: str = Field(min_length=1, max_length=128)


class _ContactFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_name: Name | None = None
    last_name: Name | None = None
    company_name: Name | None = None
    email: str | None = Field(default=None, examples=["ana@example.com"])
    phone: str | None = Field(default=None, examples=["+34 600 123 456"])
    address: Address | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return normalize_email(v) if v is not None else None

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return normalize_phone(v) if v is not None else None


class _ValueFields(BaseModel):
    """Optional attributes the value score and outreach read."""

    payment_terms: PaymentTerms | None = None
    brand_contribution: BrandContribution | None = None
    declared_budget: Budget | None = Field(default=None, examples=["25000.00"])
    share_of_wallet: ShareOfWallet | None = Field(default=None, examples=["0.25"], description="0 to 1")
    preferred_channel: PreferredChannel | None = None
    max_contacts_per_month: int | None = Field(default=None, ge=0, le=32767)
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
    merged_into: uuid.UUID | None = Field(default=None, description="set when merged into another customer")
    version: int = Field(description="row version; the ETag of this customer")
    created_at: datetime
    updated_at: datetime


def display_name(kind: str, first: str | None, last: str | None, company: str | None) -> str:
    if kind == "company":
        return company or ""
    return " ".join(p for p in (first, last) if p) or company or ""
