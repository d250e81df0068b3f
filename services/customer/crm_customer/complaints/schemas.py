"""Complaint schemas: the public contracts live in crm_shared; list filters are local."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field, field_validator

from crm_shared.bounds import Instant
from crm_shared.schemas.complaints import (
    CategoryCreate,
    CategoryRead,
    CategoryUpdate,
    ComplaintDetail,
    ComplaintEventData,
    ComplaintOpen,
    ComplaintRead,
    ComplaintTransition,
    ComplaintUpdate,
    DailyPoint,
    DailyReport,
    FirstContactResolutionReport,
    OverdueItem,
    OverdueReport,
    RepeatComplainant,
    RepeatComplainantsReport,
    Severity,
    SlaRead,
    SlaUpdate,
    StatusChangeRead,
)

from .models import STATUSES

__all__ = [
    "CategoryCreate",
    "CategoryRead",
    "CategoryUpdate",
    "ComplaintDetail",
    "ComplaintEventData",
    "ComplaintFilters",
    "ComplaintOpen",
    "ComplaintRead",
    "ComplaintTransition",
    "ComplaintUpdate",
    "DailyPoint",
    "DailyReport",
    "FirstContactResolutionReport",
    "OverdueItem",
    "OverdueReport",
    "RepeatComplainant",
    "RepeatComplainantsReport",
    "Severity",
    "SlaRead",
    "SlaUpdate",
    "StatusChangeRead",
]


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
