"""Watchlist contracts: its settings (thresholds as data), the list's filters and its entries."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_shared.text import SingleLine

Signal = Literal["declining", "complaints", "lapsed_top", "narrow_lines", "silent"]
SIGNALS: tuple[Signal, ...] = ("declining", "complaints", "lapsed_top", "narrow_lines", "silent")


class WatchlistSettings(BaseModel):
    """Thresholds of the signals (GET/PUT /api/v1/churn/watchlist/settings)."""

    model_config = ConfigDict(extra="forbid")

    silence_days: int = Field(90, ge=1, le=3650, description="no interaction for this many days: `silent`")
    falling_share: float = Field(
        0.2, gt=0, le=1, description="CLV or composite score fell by at least this share at the last score change"
    )
    narrow_max_lines: int = Field(2, ge=1, le=100, description="buys from at most this many product lines")
    narrow_min_orders: int = Field(2, ge=1, le=10_000, description="... over at least this many orders")
    repeat_complaints: int = Field(
        2,
        ge=2,
        le=1000,
        description="a key account (ABC class A) with this many complaints, one unresolved, comes first",
    )


class WatchlistFilters(BaseModel):
    signal: Signal | None = Field(default=None, description="only customers carrying this signal")
    abc_class: Literal["A", "B", "C"] | None = None
    stage: Literal["introduction", "growth", "maturity", "decline"] | None = None
    region: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SingleLine] | None
    ) = None


class Evidence(BaseModel):
    rel: str = Field(description="what the link shows")
    href: str = Field(description="an API path through the gateway")


class WatchReason(BaseModel):
    signal: Signal
    detail: str
    evidence: list[Evidence]


class WatchEntryRead(BaseModel):
    customer_id: uuid.UUID
    value_at_risk: Decimal = Field(description="CLV x churn risk (scoring's), rounded to cents")
    clv: Decimal | None
    churn_risk: float | None
    priority: bool = Field(description="a key account with repeated complaints, one unresolved: listed first")
    abc_class: str | None
    stage: str | None
    region: str | None
    listed: bool = Field(description="on the watchlist now (false: no signal, churned or merged)")
    reasons: list[WatchReason]
    updated_at: datetime


class WatchlistSummary(BaseModel):
    """The whole filtered watchlist in figures (the list pages it; this adds it up), as of a recent moment."""

    count: int = Field(description="customers on the watchlist under these filters")
    priority: int = Field(description="... of them key accounts with repeated complaints (listed first)")
    value_at_risk: Decimal = Field(description="their value at risk (CLV x churn risk) in total")
    as_of: datetime = Field(description="when these figures were taken (kept up to two minutes)")
