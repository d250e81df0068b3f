"""Order contracts. Input is a msgspec Struct: partners push batches of 5,000 orders, and msgspec
decodes and type-checks a row in a few microseconds where a pydantic model takes ~28 us. The same
Struct is the single definition: its JSON Schema is published in the OpenAPI document (`request_body`).

What JSON types cannot say is checked after decoding (validation.py), with the ranges every service
shares (crm_shared.bounds): amounts and quantities arrive as `DecimalIn` and leave the check as Decimals,
`ordered_at` in 1900..2200 and in UTC, every string one line without control characters.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from pydantic import BaseModel, Field

from crm_shared.bounds import DecimalIn, Instant, PositiveAmount
from crm_shared.schemas.common import Money, ReadModel

MAX_BATCH = 5000
PaymentMethod = Literal["card", "cash", "bank_transfer", "direct_debit", "invoice", "wallet", "voucher", "other"]
Channel = Literal["store", "web", "mobile_app", "phone", "marketplace", "sales_rep", "other"]
OrderStatus = Literal["created", "cancelled", "partially_refunded", "refunded"]

Str64 = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Str128 = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Str200 = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class AddressIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    line1: Str200 | None = None
    line2: Str200 | None = None
    city: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    region: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    postal_code: Annotated[str, msgspec.Meta(max_length=20)] | None = None
    country: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")] | None = None


class OrderCustomerIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The partner's reference to the buyer. When the reference is unknown and these details are
    present (a name or a company name), the customer is created with the order."""

    external_id: Str128
    kind: Literal["individual", "company"] = "individual"
    first_name: Str200 | None = None
    last_name: Str200 | None = None
    company_name: Str200 | None = None
    email: Annotated[str, msgspec.Meta(max_length=320)] | None = None
    phone: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    address: AddressIn | None = None
    # IANA name (e.g. Europe/Madrid), checked in validation.py; campaigns' quiet hours follow it.
    time_zone: Annotated[str, msgspec.Meta(max_length=64)] | None = None

    @property
    def has_details(self) -> bool:
        return bool(self.company_name if self.kind == "company" else (self.first_name or self.last_name))


class OrderLineIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    sku: Str64
    quantity: DecimalIn
    unit_price: DecimalIn
    name: Str200 | None = None
    product_line: Str64 | None = None


class OrderIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One order as a partner pushes it; identified by (partner, external_id)."""

    external_id: Str128
    ordered_at: Annotated[datetime, msgspec.Meta(tz=True)]
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
    amount: DecimalIn
    customer: OrderCustomerIn | None = None
    customer_id: uuid.UUID | None = None
    payment_method: PaymentMethod | None = None
    channel: Channel | None = None
    lines: list[OrderLineIn] = []


class OrderBatchIn(msgspec.Struct, forbid_unknown_fields=True):
    orders: Annotated[list[OrderIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class OrderBatchRaw(msgspec.Struct, forbid_unknown_fields=True):
    """The batch envelope with rows left undecoded, so each row is validated on its own."""

    orders: list[msgspec.Raw]


class OrderLineRead(ReadModel):
    sku: str
    quantity: Decimal
    unit_price: Money
    name: str | None = None
    product_line: str | None = None


class OrderRead(ReadModel):
    id: uuid.UUID
    partner: str
    external_id: str
    customer_id: uuid.UUID
    ordered_at: datetime
    currency: str
    amount: Money
    payment_method: str | None
    channel: str | None
    lines: list[OrderLineRead]
    status: OrderStatus
    refunded_amount: Money
    cancelled_at: datetime | None
    cancel_reason: str | None
    created_at: datetime
    updated_at: datetime


RowStatus = Literal["created", "duplicate", "rejected"]


class RowError(ReadModel):
    pointer: str
    detail: str


class BatchRowResult(ReadModel):
    index: int
    external_id: str | None
    status: RowStatus
    order_id: uuid.UUID | None = None
    errors: list[RowError] | None = None


class BatchResult(ReadModel):
    created: int
    duplicates: int
    rejected: int
    results: list[BatchRowResult] = Field(description="one entry per submitted order, in order")


class OrderCancel(ReadModel):
    reason: str | None = Field(default=None, max_length=500)


class OrderRefund(ReadModel):
    amount: PositiveAmount | None = Field(default=None, description="default: everything not yet refunded")
    reason: str | None = Field(default=None, max_length=500)


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
    """OpenAPI requestBody for a route that decodes its body with msgspec (OrderIn, OrderBatchIn)."""
    content: dict = {"schema": {"$ref": f"#/components/schemas/{name}"}}
    if example is not None:
        content["example"] = example
    return {"requestBody": {"required": True, "content": {"application/json": content}}}
