"""Helpers of the campaign tests: audience rows written straight into the read model (for large or
exact fixtures), the events the campaign service consumes, and small API shortcuts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from crm_shared.events import new_event
from tests.scoring.events import customer_event, deliver, order_created

__all__ = ["customer_event", "deliver", "order_created"]

CUSTOMER_SOURCE = "/services/customer"
SCORING_SOURCE = "/services/scoring"

DEFAULTS: dict[str, Any] = {
    "kind": "individual",
    "email": "a@example.com",
    "phone": "+491700000000",
    "consent_email": "opted_in",
    "consent_sms": "opted_in",
    "consent_mail": "opted_in",
    "consent_phone": "opted_in",
    "tags": [],
    "gold": False,
    "drag": False,
}
COLUMNS = (
    "customer_id", "kind", "display_name", "first_name", "email", "phone", "region", "country", "time_zone",
    "customer_since", "tags", "consent_email", "consent_sms", "consent_mail", "consent_phone", "preferred_channel",
    "max_contacts_per_month", "merged_into", "stage", "abc_class", "rfm_segment", "gold", "drag", "clv", "p_alive",
    "churn_risk", "composite_score",
)  # fmt: skip


async def add_audience(db: asyncpg.Connection, rows: list[dict[str, Any]]) -> list[uuid.UUID]:
    """Insert customers into the read model (missing fields: opted in everywhere, with an email and phone)."""
    full = [{**DEFAULTS, "customer_id": uuid.uuid4(), **row} for row in rows]
    records = [tuple(r.get(c) for c in COLUMNS) for r in full]
    await db.copy_records_to_table("audience_customers", records=records, columns=list(COLUMNS))
    return [r["customer_id"] for r in full]


def consent_changed(customer_id: uuid.UUID, channel: str, status: str, *, at: datetime | None = None) -> dict[str, Any]:
    data = {
        "customer_id": str(customer_id),
        "channel": channel,
        "status": status,
        "source": "api",
        "at": (at or datetime.now(UTC)).isoformat(),
    }
    return new_event("consent.changed", source=CUSTOMER_SOURCE, subject=str(customer_id), data=data)


def preferences_changed(customer_id: uuid.UUID, *, channel: str | None, max_per_month: int | None, version: int):
    data = {
        "customer_id": str(customer_id),
        "preferred_channel": channel,
        "max_contacts_per_month": max_per_month,
        "changed": ["preferred_channel", "max_contacts_per_month"],
        "version": version,
    }
    return new_event("contact_preferences.changed", source=CUSTOMER_SOURCE, subject=str(customer_id), data=data)


def tag_event(kind: str, customer_id: uuid.UUID, tag: str) -> dict[str, Any]:
    data = {"customer_id": str(customer_id), "tag_key": tag, "source": "manual", "by": "u1"}
    return new_event(kind, source=CUSTOMER_SOURCE, subject=str(customer_id), data=data)


def score_changed(customer_id: uuid.UUID, *, as_of: datetime, **fields: Any) -> dict[str, Any]:
    data = {
        "customer_id": str(customer_id),
        "as_of": as_of.isoformat(),
        "cause": "event",
        "changed": list(fields),
        "composite_score": "100.00",
        "gold": False,
        "drag": False,
        **fields,
    }
    return new_event("score.changed", source=SCORING_SOURCE, subject=str(customer_id), data=data)


def lifecycle_changed(customer_id: uuid.UUID, to_stage: str, *, as_of: datetime) -> dict[str, Any]:
    data = {
        "customer_id": str(customer_id),
        "as_of": as_of.isoformat(),
        "cause": "event",
        "to_stage": to_stage,
        "reason": "test",
    }
    return new_event("lifecycle.changed", source=SCORING_SOURCE, subject=str(customer_id), data=data)


def idem(**extra: str) -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4()), **extra}


async def new_segment(api: httpx.AsyncClient, rules: dict[str, Any], *, mode: str = "dynamic") -> str:
    r = await api.post(
        "/api/v1/segments", json={"name": f"s-{uuid.uuid4().hex[:8]}", "rules": rules, "mode": mode}, headers=idem()
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def new_campaign(api: httpx.AsyncClient, segment_id: str, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "Spring win-back",
        "objective": "win_back",
        "segment_id": segment_id,
        "channel": "email",
        "subject": "Hello {{ customer.first_name }}",
        "template": "Dear {{ customer.first_name }},\nwe miss you.",
        **fields,
    }
    r = await api.post("/api/v1/campaigns", json=body, headers=idem())
    assert r.status_code == 201, r.text
    return dict(r.json())


EVERYONE = {"field": "kind", "op": "in", "value": ["individual", "company"]}


async def outbox_events(db: asyncpg.Connection, event_type: str) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT events FROM outbox_messages ORDER BY id")
    return [e for r in rows for e in json.loads(r["events"]) if e["type"] == event_type]
