"""The envelope of every event this service publishes."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from crm_shared.events import new_event
from crm_shared.schemas.common import Payload

SOURCE = "/services/churn"


def envelope(type_: str, *, subject: uuid.UUID | None, data: Payload) -> dict[str, Any]:
    """A new event of this service built from its contract Struct (so what is published is the contract)."""
    return new_event(type_, source=SOURCE, subject=str(subject) if subject else None, data=msgspec.to_builtins(data))
