"""Building and delivering the customer service's events to the scoring app, signed like its outbox does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import msgspec

from crm_shared.events import new_event
from crm_shared.signing import signature_headers
from crm_shared.testing import TEST_EVENT_SECRET

SOURCE = "/services/customer"


def order_created(
    customer_id: uuid.UUID,
    ordered_at: datetime,
    amount: str | Decimal,
    *,
    order_id: uuid.UUID | None = None,
    product_lines: tuple[str, ...] = (),
) -> dict[str, Any]:
    oid = order_id or uuid.uuid4()
    data = {
        "order_id": str(oid),
        "customer_id": str(customer_id),
        "partner": "shop-1",
        "external_id": f"ext-{oid.hex[:12]}",
        "ordered_at": ordered_at.isoformat(),
        "currency": "EUR",
        "amount": str(amount),
        "payment_method": "card",
        "channel": "web",
        "lines": [
            {"sku": f"sku-{i}", "quantity": "1", "unit_price": str(amount), "product_line": pl}
            for i, pl in enumerate(product_lines)
        ],
    }
    return new_event("order.created", source=SOURCE, subject=str(customer_id), data=data)


def order_adjusted(created: dict[str, Any], kind: str, at: datetime, *, refunded_total: str = "0.00") -> dict[str, Any]:
    """`order.cancelled` or `order.refunded` for an order built by `order_created`."""
    d = created["data"]
    status = (
        "cancelled"
        if kind == "order.cancelled"
        else ("refunded" if Decimal(refunded_total) == Decimal(d["amount"]) else "partially_refunded")
    )
    data = {
        **{k: d[k] for k in ("order_id", "customer_id", "partner", "external_id", "ordered_at", "currency", "amount")},
        "status": status,
        "refunded_total": refunded_total,
        "reason": None,
        "at": at.isoformat(),
    }
    return new_event(kind, source=SOURCE, subject=d["customer_id"], data=data)


def customer_event(kind: str, customer_id: uuid.UUID, **attributes: Any) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    customer = {
        "id": str(customer_id),
        "kind": "individual",
        "display_name": "A B",
        "first_name": "A",
        "last_name": "B",
        "company_name": None,
        "email": None,
        "phone": None,
        "address": None,
        "external_refs": [],
        "created_at": now,
        "updated_at": now,
        "version": 1,
        **attributes,
    }
    return new_event(
        kind, source=SOURCE, subject=str(customer_id), data={"customer": customer, "changed": list(attributes)}
    )


def merged(survivor: uuid.UUID, merged_id: uuid.UUID) -> dict[str, Any]:
    data = {
        "survivor_id": str(survivor),
        "merged_id": str(merged_id),
        "moved": {},
        "filled": [],
        "at": datetime.now(UTC).isoformat(),
    }
    return new_event("customer.merged", source=SOURCE, subject=str(survivor), data=data)


async def deliver(
    client: httpx.AsyncClient, *events: dict[str, Any], secret: str = TEST_EVENT_SECRET
) -> httpx.Response:
    body = msgspec.json.encode(list(events))
    headers = {
        **signature_headers(secret, str(uuid.uuid4()), body),
        "content-type": "application/cloudevents-batch+json",
    }
    response = await client.post("/internal/events", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response
