"""Referral contracts: the read model and event payload live in crm_shared; inputs are local."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_shared.bounds import Instant
from crm_shared.schemas.relations import ReferralRead
from crm_shared.text import SingleLine

__all__ = ["ReferralIn", "ReferralRead", "TopReferrer", "TopReferrers"]


class ReferralIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    referrer_id: uuid.UUID = Field(description="the customer who introduced this one")
    referred_at: Instant | None = Field(default=None, description="default now; not in the future")
    source: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SingleLine] | None
    ) = Field(default=None, examples=["member-get-member 2026"])


class TopReferrer(BaseModel):
    referrer_id: uuid.UUID
    display_name: str
    referrals: int = Field(description="customers referred in the period")


class TopReferrers(BaseModel):
    items: list[TopReferrer]
