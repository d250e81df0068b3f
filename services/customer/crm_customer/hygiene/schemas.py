"""Hygiene contracts: duplicate candidates and merges."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crm_shared.pagination import Page
from crm_shared.pii import PiiEmail, PiiPhone, PiiText

from ..customers.schemas import CustomerRead

DuplicateReason = Literal["email", "phone", "name"]


class DuplicateMember(BaseModel):
    id: uuid.UUID
    kind: str
    display_name: str
    email: PiiEmail | None
    phone: PiiPhone | None
    company_id: uuid.UUID | None
    created_at: datetime


class DuplicateGroup(BaseModel):
    """Live customers that are probably the same: `reason` says why, `key` is the shared value (the
    normalized email or phone, or the company id for similar names). Oldest customer first."""

    reason: DuplicateReason
    key: PiiText = Field(description="the shared normalized email or phone (masked without pii:read) or company id")
    company_id: uuid.UUID | None = None
    customers: list[DuplicateMember]


class DuplicatePage(Page[DuplicateGroup]):
    pending_companies: int | None = Field(
        default=None,
        description="companies whose members changed (added, renamed, moved, merged) and whose name groups a "
        "background refresh has not recomputed yet: their groups are listed as they were before the change. "
        "0 when the name groups are current; null when the listing holds no name groups (`reason` email or phone)",
    )


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merged_id: uuid.UUID = Field(description="the customer folded into the one in the path, which survives")


class MergeResult(BaseModel):
    survivor: CustomerRead
    merged_id: uuid.UUID
    moved: dict[str, int] = Field(description="rows moved to the survivor, per kind")
    filled: list[str] = Field(description="empty fields of the survivor filled from the merged customer")
