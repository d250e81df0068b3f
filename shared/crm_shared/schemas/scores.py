"""Event payloads of the scoring service (the `data` member of the envelope; subject = the customer id),
and the lifecycle stages other services read. msgspec Structs, registered in `events.EVENT_TYPES`."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Literal

from .common import Payload, Timestamp

Stage = Literal["introduction", "growth", "maturity", "decline", "churned"]
Cause = Literal["event", "batch"]


class ScoreChangedData(Payload, kw_only=True):
    """`score.changed`: a material change of a customer's value scores (see the `changes` rule set);
    `changed` names what moved (composite_score, clv, p_alive, abc_class, rfm_segment, gold, drag)."""

    customer_id: uuid.UUID
    as_of: Timestamp
    cause: Cause
    changed: list[str]
    composite_score: Decimal
    previous_composite_score: Decimal | None = None
    clv: Decimal | None = None
    previous_clv: Decimal | None = None
    p_alive: float | None = None
    churn_risk: float | None = None
    abc_class: Literal["A", "B", "C"] | None = None
    rfm_segment: str | None = None
    gold: bool
    drag: bool


class LifecycleChangedData(Payload, kw_only=True):
    """`lifecycle.changed`: the customer's lifecycle stage changed (`from_stage` null: first stage)."""

    customer_id: uuid.UUID
    as_of: Timestamp
    cause: Cause
    from_stage: Stage | None = None
    to_stage: Stage
    reason: str


class ScoresRecomputedData(Payload, kw_only=True):
    """`scores.recomputed`: a batch run finished; per-customer events were sent only for customers whose
    stored scores changed materially, so consumers that need every customer page the scores list."""

    run_id: int
    as_of: Timestamp
    customers: int
    calibration_id: int | None = None
    refit: bool


EVENT_TYPES: dict[str, type[Payload]] = {
    "score.changed": ScoreChangedData,
    "lifecycle.changed": LifecycleChangedData,
    "scores.recomputed": ScoresRecomputedData,
}
