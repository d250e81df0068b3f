"""Segment contracts: the rule tree travels as JSON (validated by rules.py, so errors point into it)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_shared.schemas.common import ReadModel
from crm_shared.text import SingleLine

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SingleLine]
Mode = Literal["dynamic", "frozen"]
RULES_EXAMPLE = {
    "and": [
        {"field": "abc_class", "op": "in", "value": ["A", "B"]},
        {"field": "stage", "op": "eq", "value": "decline"},
        {"not": {"field": "tags", "op": "has", "value": "complainant"}},
    ]
}
Rules = Annotated[dict[str, Any], Field(examples=[RULES_EXAMPLE], description="and/or/not over conditions")]


class SegmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None
    rules: Rules
    mode: Mode = Field(default="dynamic", description="dynamic: re-evaluated at each send; frozen: at launch")


class SegmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None
    rules: Rules | None = None
    mode: Mode | None = None


class SegmentRead(ReadModel):
    id: uuid.UUID
    name: str
    description: str | None
    rules: dict[str, Any]
    mode: Mode
    version: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: Rules
    sample: int = Field(default=10, ge=0, le=100)


class SampleCustomer(BaseModel):
    """A member of the sample: id and the scoring fields (no personal data)."""

    customer_id: uuid.UUID
    kind: str
    stage: str | None
    abc_class: str | None
    rfm_segment: str | None
    composite_score: Decimal | None
    clv: Decimal | None
    churn_risk: float | None


class Preview(BaseModel):
    """How many customers the rules match now. On a large audience this is an estimate (`count_exact`
    false): the rules are counted on a uniform random sample of the audience (`sample_size` rows) and
    `count_low`-`count_high` is the 95% interval; a launch always counts exactly."""

    count: int = Field(description="customers matching now (merged customers never match); estimated if not exact")
    count_exact: bool = Field(default=True, description="false: `count` is an estimate from a sample")
    count_low: int = Field(description="95% interval's lower end (= count when exact)")
    count_high: int = Field(description="95% interval's upper end (= count when exact)")
    sample_size: int | None = Field(default=None, description="audience rows the estimate counted on (null when exact)")
    sample: list[SampleCustomer] = Field(description="the highest composite scores first")


class FieldInfo(BaseModel):
    field: str
    type: str
    ops: list[str]
    values: list[str] | None
    description: str


class FieldCatalogue(BaseModel):
    items: list[FieldInfo]
