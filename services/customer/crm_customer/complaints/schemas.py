"""Complaint contracts: the category taxonomy and SLAs, complaints and their workflow, reports, list filters."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from crm_shared.bounds import Instant
from crm_shared.schemas.common import ReadModel
from crm_shared.schemas.events import ComplaintChannel, ComplaintStatus, Severity
from crm_shared.text import SingleLine

from .models import STATUSES

TransitionAction = Literal["start", "resolve", "close", "reopen"]
CategoryKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SingleLine]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SingleLine]
Owner = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SingleLine]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]


# -- taxonomy and SLAs ---------------------------------------------------------------------------


class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: CategoryKey = Field(examples=["packaging"], description="stable key, ^[a-z][a-z0-9_]{0,63}$")
    label: Label = Field(examples=["Packaging"])


class CategoryUpdate(BaseModel):
    """Only the fields present change. System categories can be deactivated (and reactivated) but
    keep their seeded label, so the default taxonomy reads the same everywhere."""

    model_config = ConfigDict(extra="forbid")

    label: Label | None = None
    active: bool | None = None


class CategoryRead(ReadModel):
    key: str
    label: str
    system: bool
    active: bool
    created_at: datetime


class SlaUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolve_within_hours: int = Field(gt=0, le=24 * 366, description="hours a complaint may stay unresolved")


class SlaRead(ReadModel):
    severity: Severity
    resolve_within_hours: int


# -- complaints ----------------------------------------------------------------------------------


class ComplaintOpen(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: uuid.UUID
    contact_id: uuid.UUID | None = None
    category: CategoryKey
    severity: Severity
    channel: ComplaintChannel
    subject: Subject
    description: Text | None = None
    owner: Owner | None = Field(default=None, description="who handles it (a staff user)")
    opened_at: Instant | None = Field(default=None, description="default now; never in the future")


class ComplaintUpdate(BaseModel):
    """Only the fields present change; owner and description can be cleared with null. A severity
    change recomputes due_at from the start of the current SLA clock (opened_at, or the last reopen)."""

    model_config = ConfigDict(extra="forbid")

    owner: Owner | None = None
    category: CategoryKey | None = None
    severity: Severity | None = None
    subject: Subject | None = None
    description: Text | None = None


class ComplaintTransition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: TransitionAction
    note: Text | None = Field(default=None, description="kept in the status history")
    resolution_note: Text | None = Field(default=None, description="required to resolve")
    first_contact_resolution: bool | None = Field(
        default=None, description="required to resolve: was it solved at the first contact?"
    )


class StatusChangeRead(ReadModel):
    from_status: ComplaintStatus | None
    to_status: ComplaintStatus
    note: str | None
    changed_by: str | None
    changed_at: datetime


class ComplaintRead(ReadModel):
    # Read from the ORM's `category_key`, or by name when a report or the detail view copies a read.
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    id: uuid.UUID
    number: int = Field(description="human reference")
    customer_id: uuid.UUID
    contact_id: uuid.UUID | None
    category: str = Field(validation_alias="category_key")
    severity: Severity
    channel: ComplaintChannel
    subject: str
    description: str | None
    status: ComplaintStatus
    owner: str | None
    opened_at: datetime
    due_at: datetime
    first_contact_resolution: bool | None
    resolution_note: str | None
    resolved_at: datetime | None
    closed_at: datetime | None
    reopen_count: int
    version: int = Field(description="row version; the ETag of this complaint")
    created_at: datetime
    updated_at: datetime


class ComplaintDetail(ComplaintRead):
    history: list[StatusChangeRead] = Field(description="every status change, oldest first")


# -- reports -------------------------------------------------------------------------------------


class DailyPoint(BaseModel):
    day: date
    group: str
    count: int


class DailyReport(BaseModel):
    """Complaints opened per UTC day and group, zero-filled: one point per day per group."""

    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    by: Literal["category", "severity"]
    groups: list[str]
    points: list[DailyPoint]


class FirstContactResolutionReport(BaseModel):
    """Over complaints whose resolved_at falls in [from, to] (UTC days)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    resolved: int
    first_contact: int
    rate: float | None = Field(description="first_contact / resolved, 4 decimals; null when nothing was resolved")


class OverdueItem(BaseModel):
    id: uuid.UUID
    number: int
    customer_id: uuid.UUID
    category: str
    severity: Severity
    status: ComplaintStatus
    subject: str
    owner: str | None
    opened_at: datetime
    due_at: datetime
    hours_overdue: float


class OverdueReport(BaseModel):
    as_of: datetime
    total: int = Field(description="all overdue complaints, also those past the page")
    items: list[OverdueItem] = Field(description="most overdue first")


class RepeatComplainant(BaseModel):
    customer_id: uuid.UUID
    display_name: str
    complaints: int
    high_or_critical: int
    unresolved: int
    last_complaint_at: datetime


class RepeatComplainantsReport(BaseModel):
    window_days: int
    min_complaints: int
    since: datetime
    items: list[RepeatComplainant] = Field(description="most complaints first")


class ComplaintFilters(BaseModel):
    customer_id: uuid.UUID | None = None
    status: list[str] | None = Field(
        default=None, description="repeat the parameter or give a comma list: open,in_progress"
    )
    category: str | None = None
    severity: Severity | None = None
    owner: str | None = None
    overdue: bool | None = Field(
        default=None, description="true: open or in progress past due_at; false: all the others"
    )
    opened_from: Instant | None = Field(default=None, description="inclusive")
    opened_to: Instant | None = Field(default=None, description="exclusive")

    @field_validator("status")
    @classmethod
    def _statuses(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        out = [s.strip() for v in value for s in v.split(",") if s.strip()]
        bad = [s for s in out if s not in STATUSES]
        if bad:
            raise ValueError(f"unknown status {bad[0]!r}; allowed: {', '.join(STATUSES)}")
        return sorted(set(out), key=STATUSES.index) or None
