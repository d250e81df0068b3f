"""Delivery contracts. A delivery's body is not shown (it may hold personal data): the receiver has it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, computed_field

from crm_shared.schemas.common import ReadModel

Status = Literal["pending", "succeeded", "failed", "dead"]


class DeliveryRead(ReadModel):
    id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: uuid.UUID = Field(description="the event's id (a test ping has its own)")
    event_type: str
    status: Status = Field(
        description="pending: not tried yet; failed: retried at next_attempt_at; succeeded; dead: gave up (replayable)"
    )
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None = Field(description="the receiver's last HTTP status; null: no answer")
    last_error: str | None
    last_response: str | None = Field(description="the start of the receiver's last answer")
    succeeded_at: datetime | None
    created_at: datetime

    @computed_field(description="the `webhook-id` header of every attempt: the receiver's idempotency key")
    def webhook_id(self) -> str:
        return webhook_id(self.id)


def webhook_id(delivery_id: uuid.UUID) -> str:
    return f"msg_{delivery_id.hex}"


class Replayed(BaseModel):
    replayed: int = Field(description="dead deliveries queued again")
