"""Tag contracts: the catalogue and the tags a customer carries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_shared.schemas.common import ReadModel
from crm_shared.schemas.events import TagSource
from crm_shared.text import SingleLine

KEY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


class TagCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN, examples=["vip_event_2026"], description="lower case, digits, _")
    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SingleLine]
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class TagRead(ReadModel):
    key: str
    label: str
    description: str | None
    system: bool = Field(description="seeded by the system; cannot be deleted")
    created_at: datetime


class CustomerTagRead(ReadModel):
    key: str
    label: str
    system: bool
    source: TagSource
    added_by: str | None
    added_at: datetime


class CustomerTags(BaseModel):
    """Every tag a customer carries, by key."""

    items: list[CustomerTagRead]
