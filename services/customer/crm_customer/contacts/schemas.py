"""Contact contracts: inputs, the read model (also the `contact` of contact events) and list filters."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from crm_shared.pii import PiiEmail, PiiPhone
from crm_shared.schemas.common import ReadModel
from crm_shared.schemas.events import ContactRelation
from crm_shared.text import SingleLine

from ..customers.schemas import Email, Name, Phone

Role = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SingleLine]
NAME_FIELDS = ("first_name", "last_name")


class _ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_name: Name | None = None
    last_name: Name | None = None
    role: Role | None = Field(default=None, examples=["purchasing manager"])
    email: Email | None = Field(default=None, examples=["li.wei@example.com"])
    phone: Phone | None = Field(default=None, examples=["+86 138 0013 8000"])


class ContactCreate(_ContactIn):
    """At least one of first_name and last_name."""

    relation: ContactRelation
    is_primary: bool = Field(default=False, description="the customer's main contact; clears the previous one")


class ContactUpdate(_ContactIn):
    """Every field optional; only the fields present change (null clears a field, except relation and
    is_primary)."""

    relation: ContactRelation | None = None
    is_primary: bool | None = None

    @field_validator("relation", "is_primary")
    @classmethod
    def _not_null(cls, v: object) -> object:
        if v is None:
            raise ValueError("cannot be null")
        return v


class ContactRead(ReadModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    first_name: str | None
    last_name: str | None
    relation: ContactRelation
    role: str | None
    email: PiiEmail | None
    phone: PiiPhone | None
    is_primary: bool
    version: int = Field(description="row version; the ETag of this contact")
    created_at: datetime
    updated_at: datetime


class ContactFilters(BaseModel):
    relation: ContactRelation | None = None
