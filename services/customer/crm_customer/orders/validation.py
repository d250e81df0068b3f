"""Decode and check pushed orders row by row, so one bad row is reported and never sinks a batch.

msgspec checks types and formats while decoding (~3 us a row); the few rules JSON types cannot say
(finite non-negative money, one customer reference, a sane date) are checked here after decoding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec

from crm_shared.errors import FieldError, PayloadTooLarge, Unprocessable
from crm_shared.schemas.customers import normalize_email, normalize_phone
from crm_shared.schemas.orders import MAX_BATCH, OrderBatchRaw, OrderIn

_order = msgspec.json.Decoder(OrderIn)
_batch = msgspec.json.Decoder(OrderBatchRaw)
_PATH = re.compile(r" - at `\$(.*)`$")
_INDEX = re.compile(r"\[(\d+)\]")
MAX_MONEY = Decimal("1e13")
FUTURE_SLACK = timedelta(days=1)


@dataclass(slots=True)
class Rejected:
    index: int
    external_id: str | None
    errors: list[FieldError]


def _pointer(prefix: str, message: str) -> FieldError:
    """'Expected `str`, got `int` - at `$.lines[0].sku`' -> pointer '<prefix>/lines/0/sku'."""
    match = _PATH.search(message)
    path = ""
    if match:
        path = _INDEX.sub(r".\1", match.group(1)).replace(".", "/")
        message = message[: match.start()]
    return FieldError(detail=message, pointer=prefix + path)


def split_batch(body: bytes) -> list[msgspec.Raw]:
    """The envelope `{"orders": [...]}` with rows left raw; a malformed envelope rejects the request."""
    try:
        rows = _batch.decode(body).orders
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise Unprocessable("the body is not an order batch", errors=[_pointer("#", str(exc))]) from exc
    if not rows:
        raise Unprocessable("the batch is empty", errors=[FieldError(detail="at least 1 order", pointer="#/orders")])
    if len(rows) > MAX_BATCH:
        raise PayloadTooLarge(
            f"a batch holds at most {MAX_BATCH} orders, this one {len(rows)}",
            errors=[FieldError(detail=f"at most {MAX_BATCH} items", pointer="#/orders")],
        )
    return rows


def decode_rows(rows: list[msgspec.Raw], prefix: str = "#/orders") -> tuple[list[tuple[int, OrderIn]], list[Rejected]]:
    valid: list[tuple[int, OrderIn]] = []
    rejected: list[Rejected] = []
    seen: dict[str, int] = {}
    latest = datetime.now(UTC) + FUTURE_SLACK
    for i, raw in enumerate(rows):
        where = f"{prefix}/{i}"
        try:
            order = _order.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            rejected.append(Rejected(i, _external_id(raw), [_pointer(where, str(exc))]))
            continue
        errors = check(order, where, latest)
        if order.external_id in seen:
            errors.append(
                FieldError(
                    detail=f"repeats the order at index {seen[order.external_id]} of this batch",
                    pointer=f"{where}/external_id",
                )
            )
        if errors:
            rejected.append(Rejected(i, order.external_id, errors))
            continue
        seen[order.external_id] = i
        valid.append((i, order))
    return valid, rejected


def decode_one(body: bytes) -> OrderIn:
    """A single pushed order; any problem rejects the request with every field named."""
    try:
        order = _order.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise Unprocessable("the order is invalid", errors=[_pointer("#", str(exc))]) from exc
    errors = check(order, "#", datetime.now(UTC) + FUTURE_SLACK)
    if errors:
        raise Unprocessable("the order is invalid", errors=errors)
    return order


_ZERO = Decimal(0)
_PLACES = Decimal("0.0001")


def _amount_error(value: Decimal) -> str | None:
    """An order amount fits the numeric(18, 4) column: finite, >= 0, < 1e13, at most 4 decimals."""
    if not value.is_finite():
        return "must be a finite number"
    if value < _ZERO:
        return "must not be negative"
    if value >= MAX_MONEY:
        return "is too large"
    if value != value.quantize(_PLACES):
        return "has more than 4 decimal places"
    return None


def check(order: OrderIn, where: str, latest: datetime) -> list[FieldError]:
    errors: list[FieldError] = []
    if (problem := _amount_error(order.amount)) is not None:
        errors.append(FieldError(detail=f"amount {problem}", pointer=f"{where}/amount"))
    if (order.customer is None) == (order.customer_id is None):
        errors.append(
            FieldError(
                detail="give exactly one of customer (your reference) or customer_id",
                pointer=f"{where}/customer",
            )
        )
    if order.ordered_at > latest:
        errors.append(FieldError(detail="ordered_at is in the future", pointer=f"{where}/ordered_at"))
    for j, line in enumerate(order.lines):
        if not (line.quantity.is_finite() and line.quantity > _ZERO):
            errors.append(FieldError(detail="quantity must be positive", pointer=f"{where}/lines/{j}/quantity"))
        if not (line.unit_price.is_finite() and line.unit_price >= _ZERO):
            errors.append(
                FieldError(
                    detail="unit_price must be a finite number, not negative", pointer=f"{where}/lines/{j}/unit_price"
                )
            )
    customer = order.customer
    if customer is not None and (customer.email is not None or customer.phone is not None):
        try:
            if customer.email is not None:
                customer.email = normalize_email(customer.email)
        except ValueError as exc:
            errors.append(FieldError(detail=str(exc), pointer=f"{where}/customer/email"))
        try:
            if customer.phone is not None:
                customer.phone = normalize_phone(customer.phone)
        except ValueError as exc:
            errors.append(FieldError(detail=str(exc), pointer=f"{where}/customer/phone"))
    return errors


def _external_id(raw: msgspec.Raw) -> str | None:
    """Best effort: name the row's external_id in a rejection even when the row is malformed."""
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    ext = value.get("external_id") if isinstance(value, dict) else None
    return ext if isinstance(ext, str) else None
