"""Event payloads of the churn service (the `data` member of the envelope; subject = the customer id, or
null for an alert), registered in `events.EVENT_TYPES`. msgspec Structs: unknown fields are ignored, so add
fields only with a default."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Literal

from .common import Payload, Timestamp

ChurnSource = Literal["declared", "lifecycle", "risk"]
ChurnStatus = Literal["churned", "in_winback", "won_back", "lost"]
AlertDimension = Literal["overall", "abc_class", "segment", "region"]


class ChurnDetectedData(Payload, kw_only=True):
    """`churn.detected`: a churn record was opened (declared by an agent or inferred), with the customer's
    value at churn; `reasons` are reason keys (possibly none yet)."""

    record_id: uuid.UUID
    customer_id: uuid.UUID
    source: ChurnSource
    detected_at: Timestamp
    reasons: list[str] = []
    clv: Decimal | None = None
    abc_class: Literal["A", "B", "C"] | None = None
    composite_score: Decimal | None = None
    revenue_12m: Decimal
    margin: Decimal
    stage: str | None = None
    segment: str | None = None
    region: str | None = None


class MassChurnAlertData(Payload, kw_only=True):
    """`alert.mass_churn`: a month's churn rate (overall, or of one ABC class, segment or region) exceeded
    its baseline by `factor` or more; `recommendation` is the strategic response (not individual offers)."""

    alert_id: uuid.UUID
    period_start: date
    period_end: date
    dimension: AlertDimension
    value: str
    churned: int
    active_at_start: int
    rate: Decimal
    baseline_rate: Decimal
    factor: Decimal
    recommendation: str
    at: Timestamp


class WinbackOpenedData(Payload, kw_only=True):
    """`winback.opened`: a win-back case opened for a churned customer that passed the eligibility rules."""

    case_id: uuid.UUID
    record_id: uuid.UUID
    customer_id: uuid.UUID
    strategy: str | None = None
    owner: str | None = None
    expected_value: Decimal | None = None
    opened_at: Timestamp


class WinbackClosedData(Payload, kw_only=True):
    """`winback.won` (an order arrived within the window: `order_id`) and `winback.lost` (the window
    passed, or the case was closed as lost)."""

    case_id: uuid.UUID
    record_id: uuid.UUID
    customer_id: uuid.UUID
    outcome: Literal["won", "lost"]
    strategy: str | None = None
    owner: str | None = None
    cost: Decimal | None = None
    benefit: Decimal | None = None
    order_id: uuid.UUID | None = None
    closed_at: Timestamp


class WinbackMergedData(Payload, kw_only=True):
    """`winback.merged`: a customer merge folded this case's churn record into another open record, so the
    case ended (neither won nor lost: counted in no success rate) and its work continues in `merged_into`,
    the case of `into_record_id`. `customer_id`: the surviving customer, whose both cases are now."""

    case_id: uuid.UUID
    record_id: uuid.UUID
    customer_id: uuid.UUID
    merged_into: uuid.UUID
    into_record_id: uuid.UUID
    closed_at: Timestamp


EVENT_TYPES: dict[str, type[Payload]] = {
    "churn.detected": ChurnDetectedData,
    "alert.mass_churn": MassChurnAlertData,
    "winback.opened": WinbackOpenedData,
    "winback.won": WinbackClosedData,
    "winback.lost": WinbackClosedData,
    "winback.merged": WinbackMergedData,
}
