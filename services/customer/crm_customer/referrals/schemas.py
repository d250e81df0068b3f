"""Referral contracts: the input, the read model (also the `referral` of `referral.recorded`), top referrers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_shared.bounds import Instant
from crm_shared.schemas.common import ReadModel
from crm_shared.text import SingleLine


class ReferralIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    referrer_id: uuid.UUID = Field(description="the customer who introduced this one")
    referred_at: Instant | None = Field(default=None, description="default now; not in the future")
    source: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SingleLine] | None
    ) = Field(default=None, examples=["member-get-member 2026"])


class ReferralRead(ReadModel):
    id: uuid.UUID
    referrer_id: uuid.UUID = Field(description="the customer who made the introduction")
    referred_id: uuid.UUID = Field(description="the customer who was introduced")
    referred_at: datetime
    source: str | None
    created_at: datetime


class TopReferrer(BaseModel):
    referrer_id: uuid.UUID
    display_name: str
    referrals: int = Field(description="customers referred in the period")


class TopReferrers(BaseModel):
    items: list[TopReferrer]
