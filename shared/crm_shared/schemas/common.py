"""Types shared by several contracts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import msgspec
from pydantic import BaseModel, ConfigDict, PlainSerializer

# Money travels as a decimal string ("12.50"): JSON numbers lose precision in many clients.
Money = Annotated[Decimal, PlainSerializer(lambda v: str(v), return_type=str, when_used="json")]
# A time in an event payload: producers write an offset (tz-aware UTC), a naive time is refused.
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]


class ReadModel(BaseModel):
    """Base of every *Read schema: built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class Payload(msgspec.Struct):
    """Base of every event payload (the `data` of an envelope). Unknown fields are ignored, so a producer
    may add fields. Each payload is declared `kw_only=True` (msgspec does not inherit it), so its fields
    keep the order of the wire format, defaults and all."""
