"""Batch run requests and their state."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class RecomputeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: AwareDatetime | None = Field(
        default=None,
        description="only orders up to this instant count (default: now); a past date backtests the scores of that day",
    )
    refit: bool = Field(default=True, description="refit the purchase and spend models (false: keep the current fits)")
    store: bool | None = Field(
        default=None,
        description="true: replace the live scores and publish their changes (only for as_of now); false: a "
        "backtest that writes nothing but the run's stats: the scores' distribution and, for a past as_of, "
        "predicted against actual purchases since and the churn risk's AUC. Default: true for now, false for a "
        "past as_of",
    )


class RunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    as_of: datetime
    refit: bool
    status: Literal["running", "succeeded", "failed"]
    phase: str = Field(description="starting, read, fit, score, write, done")
    progress: float = Field(description="0 to 1")
    stats: dict[str, Any] = Field(description="per-phase timings in seconds, counts, fit diagnostics")
    error: str | None = None
    requested_by: str | None = None
    calibration_id: int | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime
