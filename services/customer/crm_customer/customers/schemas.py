"""Customer schemas: the public contracts live in crm_shared; list filters are local."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from crm_shared.schemas.customers import CustomerCreate, CustomerRead, CustomerUpdate, ExternalRef, PaymentTerms

__all__ = ["CustomerCreate", "CustomerFilters", "CustomerRead", "CustomerUpdate", "ExternalRef"]

SORTABLE = ("created_at", "display_name")


class CustomerFilters(BaseModel):
    kind: Literal["individual", "company"] | None = None
    email: str | None = Field(default=None, description="exact match, case-insensitive")
    phone: str | None = Field(default=None, description="exact match after normalization")
    q: str | None = Field(default=None, min_length=2, max_length=100, description="name contains")
    partner: str | None = Field(default=None, description="with external_id: the partner's reference")
    external_id: str | None = None
    company_id: uuid.UUID | None = Field(default=None, description="members of this company")
    tag: str | None = Field(default=None, max_length=64, description="customers carrying this tag")
    payment_terms: PaymentTerms | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    include_merged: bool = Field(default=False, description="also list customers merged into others")
