"""Building and delivering the events the churn service consumes (customer and scoring services), signed
like their outboxes do, and reading what the churn service published."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from crm_shared.events import new_event
from tests.scoring.events import customer_event, deliver, merged, order_created

__all__ = ["customer_event", "deliver", "merged", "order_created"]

SCORING = "/services/scoring"
CUSTOMER = "/services/customer"


def idem() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def score_changed(
    customer_id: uuid.UUID,
    as_of: datetime,
    *,
    churn_risk: float | None = None,
    clv: str | None = "5000.00",
    abc_class: str | None = "A",
    composite: str = "80.00",
    segment: str | None = "champions",
) -> dict[str, Any]:
    data = {
        "customer_id": str(customer_id),
        "as_of": as_of.isoformat(),
        "cause": "event",
        "changed": ["composite_score"],
        "composite_score": composite,
        "clv": clv,
        "churn_risk": churn_risk,
        "abc_class": abc_class,
        "rfm_segment": segment,
        "gold": False,
        "drag": False,
    }
    return new_event("score.changed", source=SCORING, subject=str(customer_id), data=data)


def lifecycle_changed(customer_id: uuid.UUID, as_of: datetime, to_stage: str, from_stage: str | None) -> dict[str, Any]:
    data = {
        "customer_id": str(customer_id),
        "as_of": as_of.isoformat(),
        "cause": "batch",
        "from_stage": from_stage,
        "to_stage": to_stage,
        "reason": "test",
    }
    return new_event("lifecycle.changed", source=SCORING, subject=str(customer_id), data=data)


def complaint(
    customer_id: uuid.UUID,
    *,
    category: str = "delivery",
    status: str = "open",
    version: int = 1,
    complaint_id: uuid.UUID | None = None,
    kind: str = "complaint.opened",
) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    body = {
        "id": str(complaint_id or uuid.uuid4()),
        "number": 7,
        "customer_id": str(customer_id),
        "contact_id": None,
        "category": category,
        "severity": "high",
        "channel": "phone",
        "subject": f"about {category}",
        "description": None,
        "status": status,
        "owner": None,
        "opened_at": now,
        "due_at": now,
        "first_contact_resolution": None,
        "resolution_note": None,
        "resolved_at": now if status in ("resolved", "closed") else None,
        "closed_at": None,
        "reopen_count": 0,
        "version": version,
        "created_at": now,
        "updated_at": now,
    }
    data = {"complaint": body, "from_status": None, "to_status": status}
    return new_event(kind, source=CUSTOMER, subject=str(customer_id), data=data)


async def published(db: asyncpg.Connection, type_: str | None = None) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT events FROM outbox_messages ORDER BY id")
    events = [e for r in rows for e in json.loads(r["events"])]
    return [e for e in events if type_ is None or e["type"] == type_]
