"""Contact contracts: the read model and event payloads live in crm_shared; inputs are local."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from crm_shared.schemas.customers import Name, normalize_email, normalize_phone
from crm_shared.schemas.relations import ContactRead, ContactRelation
from crm_shared.text import SingleLine

__all__ = ["ContactCreate", "ContactFilters", "ContactRead", "ContactUpdate"]

Role = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SingleLine]
NAME_FIELDS = ("first_name", "last_name")


class _ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_name: Name | None = None
    last_name: Name | None = None
    role: Role | None = Field(default=None, examples=["purchasing manager"])
    email: str | None = Field(default=None, examples=["li.wei@example.com"])
    phone: str | None = Field(default=None, examples=["+86 138 0013 8000"])

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return normalize_email(v) if v is not None else None

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return normalize_phone(v) if v is not None else None


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


class ContactFilters(BaseModel):
    relation: ContactRelation | None = None
