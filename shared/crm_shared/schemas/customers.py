"""Customer contracts: individuals and companies, with partners' external references."""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Literal

import phonenumbers
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

from ..bounds import Amount, PlainDecimal
from ..pii import PiiEmail, PiiPhone, PiiText
from ..text import SingleLine, text_problem
from .common import Money, ReadModel

CustomerKind = Literal["individual", "company"]
PaymentTerms = Literal["prepaid", "cash", "on_time", "on_account"]
BrandContribution = Literal["none", "public_figure", "senior_position"]
PreferredChannel = Literal["email", "sms", "mail", "phone"]
# Attributes the composite value score reads (DOMAIN.md 2); money as a decimal string in JSON, in the
# range every service accepts (crm_shared.bounds: the scoring service keeps these too).
_PLACES = Decimal("0.0001")  # the scale of the columns: a write reads back as it is stored
Budget = Amount
ShareOfWallet = Annotated[
    PlainDecimal, Field(ge=0, le=1, max_digits=5, decimal_places=4), AfterValidator(lambda v: v.quantize(_PLACES))
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SingleLine]
Line = Annotated[str, SingleLine]  # an address part, a reference: one line
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_FORMAT_HINT = "in international form, e.g. +34 600 123 456"


def email_key(value: str) -> str:
    """Unicode NFKC, then case folding: every spelling of one address (composed or decomposed accents,
    full-width letters, any case) becomes one key, so look-ups and duplicate detection find it."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold()).strip()


def normalize_email(value: str) -> str:
    """A valid address, as `email_key` stores it."""
    email = email_key(value)
    if len(email) > 320 or not _EMAIL.match(email) or text_problem(email, single_line=True) is not None:
        raise ValueError("not a valid email address")
    return email


def normalize_phone(value: str, region: str | None = None) -> str:
    """E.164 ('+34600123456'), parsed by libphonenumber: any spacing or punctuation, 00 for +, full-width,
    superscript or Arabic-Indic digits. A number without its country code needs `region` (ISO 3166-1
    alpha-2, e.g. the address's country); one the numbering plan does not know is refused."""
    return _e164(value, region)


@lru_cache(maxsize=65_536)
def _e164(value: str, region: str | None) -> str:
    """Cached: parsing costs ~20-35 us, and a batch of orders repeats its customers' numbers."""
    text = unicodedata.normalize("NFKC", value).strip()  # superscript and full-width digits to ASCII
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValueError(f"not a phone number; give it {_FORMAT_HINT}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"not a valid phone number; give it {_FORMAT_HINT}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_key(value: str) -> str:
    """A phone filter's value as it is stored, or the value unchanged when it is not a number."""
    try:
        return normalize_phone(value)
    except ValueError:
        return value


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
    email: str | None = Field(default=None, examples=["ana@example.com"])
    phone: str | None = Field(default=None, examples=["+34 600 123 456"], description="E.164 once stored")

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return normalize_email(v) if v is not None else None

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
