"""Builders and database snapshots shared by the customer service tests."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

TABLES = (
    "customers",
    "customer_refs",
    "orders",
    "outbox_messages",
    "idempotency_keys",
    "contacts",
    "tags",
    "customer_tags",
    "complaint_categories",
    "complaint_slas",
    "complaints",
    "complaint_status_changes",
    "interactions",
    "referrals",
    "consent_records",
    "consents",
    "profile_answers",
    "customer_merges",
)


def order(ext: str = "SO-1", ref: str = "C-1", *, details: bool = True, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": ext,
        "customer": {"external_id": ref, **({"first_name": "Ana", "last_name": "Ruiz"} if details else {})},
        "ordered_at": "2026-11-20T10:15:00Z",
        "currency": "EUR",
        "amount": "59.90",
        "payment_method": "card",
        "channel": "web",
        "lines": [{"sku": "TEA-01", "quantity": "2", "unit_price": "29.95", "product_line": "tea"}],
    }
    body.update(over)
    return body


def idem() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def snapshot(db: asyncpg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the service's tables: compare before/after to prove a request changed nothing."""
    out = {}
    for table in TABLES:
        rows = await db.fetch(f"SELECT * FROM {table}")
        out[table] = sorted((tuple(r.values()) for r in rows), key=repr)
    return out


async def outbox_events(db: asyncpg.Connection) -> list[dict[str, Any]]:
    import json

    rows = await db.fetch("SELECT events FROM outbox_messages ORDER BY id")
    return [e for r in rows for e in json.loads(r["events"])]
