"""Types shared by several contracts."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer

# Money travels as a decimal string ("12.50"): JSON numbers lose precision in many clients.
Money = Annotated[Decimal, PlainSerializer(lambda v: str(v), return_type=str, when_used="json")]


class ReadModel(BaseModel):
    """Base of every *Read schema: built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)
