"""Tag contracts: read models and event payloads live in crm_shared; inputs are local."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_shared.schemas.relations import CustomerTagRead, TagRead
from crm_shared.text import SingleLine

__all__ = ["KEY_PATTERN", "CustomerTagRead", "CustomerTags", "TagCreate", "TagRead"]

KEY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


class TagCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN, examples=["vip_event_2026"], description="lower case, digits, _")
    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SingleLine]
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class CustomerTags(BaseModel):
    """Every tag a customer carries, by key."""

    items: list[CustomerTagRead]
