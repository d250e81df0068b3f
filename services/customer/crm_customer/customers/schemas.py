"""Customer schemas: the public contracts live in crm_shared; list filters are local."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from crm_shared.bounds import Instant
from crm_shared.schemas.customers import (
    CustomerCreate,
    CustomerRead,
    CustomerUpdate,
    ExternalRef,
    PaymentTerms,
    email_key,
    phone_key,
)

__all__ = ["CustomerCreate", "CustomerFilters", "CustomerRead", "CustomerUpdate", "ExternalRef"]

SORTABLE = ("created_at", "display_name")


class CustomerFilters(BaseModel):
    kind: Literal["individual", "company"] | None = None
    email: str | None = Field(default=None, description="exact match, in any case or Unicode spelling")
    phone: str | None = Field(default=None, description="exact match in E.164, in any spelling")
    q: str | None = Field(default=None, min_length=2, max_length=100, description="name contains")
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
