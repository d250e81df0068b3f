"""API models of postal-mail and call-list batches and of call tasks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field

from crm_shared.pii import PiiPhone

from .models import CALL_OUTCOMES

CallOutcome = Literal["reached", "no_answer", "declined", "wrong_number", "callback"]
assert set(CALL_OUTCOMES) == set(get_args(CallOutcome))  # the column's check and the API agree


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=1000, ge=1, le=50_000, description="the most recipients put in this batch")


class BatchRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    campaign_id: uuid.UUID
    channel: Literal["mail", "phone"]
    size: int
    created_by: str | None
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def csv_url(self) -> str:
        """Where the batch's CSV is downloaded (the Location of a new batch)."""
        return f"/api/v1/campaigns/{self.campaign_id}/batches/{self.id}/csv"


class CallTaskRead(BaseModel):
    campaign_id: uuid.UUID
    customer_id: uuid.UUID
    batch_id: uuid.UUID
    display_name: str | None
    phone: PiiPhone | None
    status: Literal["open", "done"]
    outcome: CallOutcome | None
    notes: str | None
    done_by: str | None
    version: int
    updated_at: datetime


class CallTaskDone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: CallOutcome
    notes: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None
