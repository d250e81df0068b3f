"""The envelopes this service publishes: each names the customer service as its source (the one home of
that string) and the customer it is about as its subject. Payload shapes: crm_shared.schemas.events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from crm_shared.events import new_event

SOURCE = "/services/customer"


def envelope(
    type_: str, *, subject: uuid.UUID | str, data: dict[str, Any], time: datetime | None = None
) -> dict[str, Any]:
    """A new event of this service, ready for the outbox."""
    return new_event(type_, source=SOURCE, subject=str(subject), data=data, time=time)
