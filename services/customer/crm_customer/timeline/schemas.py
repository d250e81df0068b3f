"""Timeline contracts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

TimelineKind = Literal[
    "order_created",
    "order_cancelled",
    "order_refunded",
    "complaint_opened",
    "complaint_status_changed",
    "interaction",
    "consent_changed",
]
KINDS: tuple[str, ...] = TimelineKind.__args__  # type: ignore[attr-defined]


class TimelineEntry(BaseModel):
    at: datetime
    kind: TimelineKind
    id: str = Field(description="the id of the order, complaint, status change, interaction or consent record")
    summary: str
    data: dict[str, Any]
