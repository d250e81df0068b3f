"""Batch run requests and their state."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crm_shared.bounds import Instant
from crm_shared.schemas.common import Money

from ..rules.schemas import check_horizons
from ..scores.schemas import ScoreListItem


class RecomputeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: Instant | None = Field(
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
    keep_scores: bool = Field(
        default=False,
        description="backtests only: also keep every customer's scores as of the date, listed and read under "
        "/runs/{id}/customers like the live ones (delete them there when done)",
    )
    until: Instant | None = Field(
        default=None,
        description="backtests only: the end of the window (as_of, until] whose purchases the predictions are "
        "compared with (default: the last order known, so a history that ended in the past is judged on its "
        "own span); after as_of and not in the future",
    )
    horizons_days: list[int] | None = Field(
        default=None,
        description="backtests only: the horizons in days of this run's expected purchases (default: the clv "
        "rules' horizons_days, which stay as they are); 1 to 6 distinct whole days in 1..3650",
    )

    @field_validator("horizons_days")
    @classmethod
    def _horizons(cls, v: list[int] | None) -> list[int] | None:
        return None if v is None else check_horizons(v)


class RunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    as_of: datetime
    refit: bool
    status: Literal["running", "succeeded", "failed"]
    phase: str = Field(description="starting, read, fit, score, write, done")
    progress: float = Field(description="0 to 1")
    stats: dict[str, Any] = Field(
        description="per-phase timings in seconds, counts, `fits` (each model's parameters and diagnostics), "
        "`horizons_days`; for a backtest `until` and `backtest`: the window, purchase days predicted by each "
        "purchase model against those made (`models`), and churn AUCs beside days-since-last-purchase's"
    )
    error: str | None = None
    requested_by: str | None = None
    stored: bool = Field(description="false: a backtest (the live scores were left as they were)")
    kept_scores: bool = Field(description="the backtest's copy of every customer's scores is there to read")
    calibration_id: int | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime


class RunScoreListItem(ScoreListItem):
    """A row of a backtest's copy: the live list's fields plus the model outputs an analyst compares."""

    expected_purchases: dict[str, float | None] | None = Field(
        description='per horizon in days of the run (stats.horizons_days), e.g. {"90": 1.2}'
    )
    expected_spend: Money | None


class RunScoreRead(ScoreListItem):
    """A customer's scores as a backtest computed them (as of the run's date)."""

    run_id: int
    as_of: datetime
    stage_reason: str
    purchase_days: int
    order_count: int
    recency_days: int | None
    formula_version: int | None
    expected_purchases: dict[str, float | None] | None = Field(description='per horizon in days, e.g. {"90": 1.2}')
    expected_spend: Money | None
