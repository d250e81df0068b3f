"""Order schemas: the public contracts live in crm_shared; list filters are local."""

from __future__ import annotations

import uuid

import msgspec
from pydantic import BaseModel, Field

from crm_shared.bounds import Instant
from crm_shared.schemas.orders import (
    BatchResult,
    BatchRowResult,
    OrderBatchIn,
    OrderCancel,
    OrderIn,
    OrderRead,
    OrderRefund,
    OrderStatus,
)

__all__ = [
    "BatchResult",
    "BatchRowResult",
    "OrderCancel",
    "OrderFilters",
    "OrderRead",
    "OrderRefund",
    "request_body",
]


class OrderFilters(BaseModel):
    customer_id: uuid.UUID | None = None
    partner: str | None = Field(default=None, description="staff only; partners always see their own")
    status: OrderStatus | None = None
    ordered_from: Instant | None = None
    ordered_to: Instant | None = None


def _schemas() -> tuple[dict, dict]:
    (one, batch), components = msgspec.json.schema_components(
        [OrderIn, OrderBatchIn], ref_template="#/components/schemas/{name}"
    )
    return {"OrderIn": one, "OrderBatchIn": batch}, components


_TOP, COMPONENTS = _schemas()


def request_body(name: str, example: dict | None = None) -> dict:
    """OpenAPI requestBody for a route that decodes its body with msgspec (see crm_shared.schemas.orders)."""
    content: dict = {"schema": {"$ref": f"#/components/schemas/{name}"}}
    if example is not None:
        content["example"] = example
    return {"requestBody": {"required": True, "content": {"application/json": content}}}
