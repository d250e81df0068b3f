"""Churn reason contracts: the taxonomies as data."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_shared.schemas.common import ReadModel
from crm_shared.text import SingleLine

Taxonomy = Literal["cause", "recoverability"]
KEY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SingleLine]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class ReasonCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN, examples=["service_quality"], description="lower case, digits, _")
    taxonomy: Taxonomy
    label: Label
    controllable: bool = Field(description="a factor the firm controls (vs. an uncontrollable one)")
    description: Description | None = None


class ReasonUpdate(BaseModel):
    """Rename, redescribe, reflag, or retire (retired: true) / reinstate (false) a reason."""

    model_config = ConfigDict(extra="forbid")

    label: Label | None = None
    description: Description | None = None
    controllable: bool | None = None
    retired: bool | None = Field(default=None, description="retired reasons keep their records, take no new ones")


class ReasonFilters(BaseModel):
    taxonomy: Taxonomy | None = None
    include_retired: bool = False


class ReasonRead(ReadModel):
    key: str
    taxonomy: Taxonomy
    label: str
    description: str | None
    controllable: bool
    system: bool = Field(description="one of the default taxonomies seeded by the system")
    retired_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
