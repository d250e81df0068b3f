"""Data payloads of the events the suite publishes (the `data` member of the envelope)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from .common import Money
from .complaints import COMPLAINT_EVENT_TYPES
from .customers import CustomerRead
from .engagement import EVENT_TYPES as ENGAGEMENT_EVENT_TYPES
from .relations import EVENT_TYPES as RELATION_EVENT_TYPES
from .scores import EVENT_TYPES as SCORE_EVENT_TYPES


class OrderLineData(BaseModel):
    sku: str
    quantity: str
    unit_price: str
    product_line: str | None = None


class OrderCreatedData(BaseModel):
    """`order.created`: subject = customer id."""

    order_id: uuid.UUID
    customer_id: uuid.UUID
    partner: str
    external_id: str
    ordered_at: datetime
    currency: str
    amount: Money
    payment_method: str | None = None
    channel: str | None = None
    lines: list[OrderLineData] = []


class OrderCancelledData(BaseModel):
    """`order.cancelled` (the whole order no longer counts) and `order.refunded` (refunded_total
    of amount no longer counts): subject = customer id."""

    order_id: uuid.UUID
    customer_id: uuid.UUID
    partner: str
    external_id: str
    ordered_at: datetime
    currency: str
    amount: Money
    status: str
    refunded_total: Money
    reason: str | None = None
    at: datetime


class CustomerChangedData(BaseModel):
    """`customer.created` / `customer.updated`: subject = customer id; `changed` names the fields."""

    customer: CustomerRead
    changed: list[str] = []


EVENT_TYPES: dict[str, type[BaseModel]] = {
    "customer.created": CustomerChangedData,
    "customer.updated": CustomerChangedData,
    "order.created": OrderCreatedData,
    "order.cancelled": OrderCancelledData,
    "order.refunded": OrderCancelledData,
}
EVENT_TYPES.update(COMPLAINT_EVENT_TYPES)
EVENT_TYPES.update(RELATION_EVENT_TYPES)
EVENT_TYPES.update(ENGAGEMENT_EVENT_TYPES)
EVENT_TYPES.update(SCORE_EVENT_TYPES)
