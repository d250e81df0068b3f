"""Rule-set read contracts (the rule sets' own models, which validate updates, are in schemas.py)."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, Field


class RuleSetRead(BaseModel):
    name: str = Field(description="the rule set: rfm_segments, abc, lifecycle, clv or changes")
    rules: dict[str, Any] = Field(description="the rules in force")
    version: int = Field(description="increases on each change; the ETag. 0: built-in defaults, never stored")
    updated_at: AwareDatetime | None = Field(description="UTC; null for built-in defaults")
    updated_by: str | None = Field(description="the client that last changed them")
