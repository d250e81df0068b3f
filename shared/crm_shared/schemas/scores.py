"""Event payloads of the scoring service (the `data` member of the envelope; subject = the customer id)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from .common import Money

Stage = Literal["introduction", "growth", "maturity", "decline", "churned"]
Cause = Literal["event", "batch"]


class ScoreChangedData(BaseModel):
    """`score.changed`: a material change of a customer's value scores (see the `changes` rule set);
    `changed` names what moved (composite_score, clv, p_alive, abc_class, rfm_segment, gold, drag)."""

    customer_id: uuid.UUID
    as_of: datetime
    cause: Cause
    changed: list[str]
    composite_score: Money
    previous_composite_score: Money | None = None
    clv: Money | None = None
    previous_clv: Money | None = None
    p_alive: float | None = None
    churn_risk: float | None = None
    abc_class: Literal["A", "B", "C"] | None = None
    rfm_segment: str | None = None
    gold: bool
    drag: bool


class LifecycleChangedData(BaseModel):
    """`lifecycle.changed`: the customer's lifecycle stage changed (`from_stage` null: first stage)."""

    customer_id: uuid.UUID
    as_of: datetime
    cause: Cause
    from_stage: Stage | None = None
    to_stage: Stage
    reason: str


class ScoresRecomputedData(BaseModel):
    """`scores.recomputed`: a batch run finished; per-customer events were sent only for customers whose
    stored scores changed materially, so consumers that need every customer page the scores list."""

    run_id: int
    as_of: datetime
    customers: int
    calibration_id: int | None = None
    refit: bool


EVENT_TYPES: dict[str, type[BaseModel]] = {
    "score.changed": ScoreChangedData,
    "lifecycle.changed": LifecycleChangedData,
    "scores.recomputed": ScoresRecomputedData,
}
