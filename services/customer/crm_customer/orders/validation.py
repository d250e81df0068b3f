"""Decode and check pushed orders row by row, so one bad row is reported and never sinks a batch.

msgspec checks types and formats while decoding (~3 us a row); the rules JSON types cannot say are
checked here after decoding, with the ranges every service shares (crm_shared.bounds): plain decimal
amounts and quantities in range, one customer reference, `ordered_at` in 1900..2200 and not in the future,
and every string of a row one line without control characters (crm_shared.text). The input guard leaves a
batch's text to this module, so that a row with a NUL is refused on its own.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from crm_shared.bounds import MAX_AMOUNT, MAX_QUANTITY, instant_problem, parse_amount
from crm_shared.errors import FieldError, PayloadTooLarge, Unprocessable
from crm_shared.text import bad_text, suspicious

from ..customers.normalize import normalize_email, normalize_phone, normalize_time_zone
from .schemas import MAX_BATCH, OrderBatchRaw, OrderIn

_order = msgspec.json.Decoder(OrderIn)
_batch = msgspec.json.Decoder(OrderBatchRaw)
_PATH = re.compile(r" - at `\$(.*)`$")
_INDEX = re.compile(r"\[(\d+)\]")
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


def text_errors(raw: bytes, where: str) -> list[FieldError]:
    """Every string of an order (ids, names, SKUs, address parts, codes) is one line without control
    characters; a row without a suspicious byte sequence is not parsed again."""
    if not suspicious(raw):
        return []
    try:
        value = json.loads(raw)  # keeps a lone surrogate, which msgspec refuses without naming the field
    except ValueError:
        return []  # malformed: msgspec says where
    return bad_text(value, where, single_line=True)


def decode_rows(
    rows: list[msgspec.Raw], prefix: str = "#/orders", *, check_text: bool = True
) -> tuple[list[tuple[int, OrderIn]], list[Rejected]]:
    """`check_text=False` when the whole body has no suspicious byte sequence (crm_shared.text.suspicious):
    then no row can hold one."""
    valid: list[tuple[int, OrderIn]] = []
    rejected: list[Rejected] = []
    seen: dict[str, int] = {}
    latest = datetime.now(UTC) + FUTURE_SLACK
    for i, raw in enumerate(rows):
        where = f"{prefix}/{i}"
        if check_text and (errors := text_errors(bytes(raw), where)):
            rejected.append(Rejected(i, _external_id(raw), errors))
            continue
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
    if errors := text_errors(body, "#"):
        raise Unprocessable("the order is invalid", errors=errors)
    try:
        order = _order.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        detail = "the order is invalid"
        if str(exc).startswith("Object contains unknown field `orders`"):  # a batch sent to the one-order path
            detail += '; to push several orders in one request, POST {"orders": [...]} to /api/v1/orders/batch'
        raise Unprocessable(detail, errors=[_pointer("#", str(exc))]) from exc
    errors = check(order, "#", datetime.now(UTC) + FUTURE_SLACK)
    if errors:
        raise Unprocessable("the order is invalid", errors=errors)
    return order


def _decimal(
    value: Any, name: str, pointer: str, errors: list[FieldError], *, maximum: Decimal, positive: bool = False
) -> Decimal | None:
    """A DecimalIn value as a Decimal within the shared bounds, or None with the reason in `errors`."""
    try:
        return parse_amount(value, maximum=maximum, positive=positive)
    except ValueError as exc:
        errors.append(FieldError(detail=f"{name} {exc}", pointer=pointer))
        return None


def check(order: OrderIn, where: str, latest: datetime) -> list[FieldError]:
    """The rules decoding cannot say; amounts, quantities and prices come out as Decimals, `ordered_at`
    in UTC."""
    errors: list[FieldError] = []
    amount = _decimal(order.amount, "amount", f"{where}/amount", errors, maximum=MAX_AMOUNT)
    if amount is not None:
        order.amount = amount
    if (order.customer is None) == (order.customer_id is None):
        errors.append(
            FieldError(
                detail="give exactly one of customer (your reference) or customer_id",
                pointer=f"{where}/customer",
            )
        )
    if (problem := instant_problem(order.ordered_at)) is not None:
        errors.append(FieldError(detail=f"ordered_at {problem}", pointer=f"{where}/ordered_at"))
    elif order.ordered_at > latest:
        errors.append(FieldError(detail="ordered_at is in the future", pointer=f"{where}/ordered_at"))
    else:
        order.ordered_at = order.ordered_at.astimezone(UTC)
    for j, line in enumerate(order.lines):
        at = f"{where}/lines/{j}"
        quantity = _decimal(line.quantity, "quantity", f"{at}/quantity", errors, maximum=MAX_QUANTITY, positive=True)
        price = _decimal(line.unit_price, "unit_price", f"{at}/unit_price", errors, maximum=MAX_AMOUNT)
        if quantity is not None and price is not None:
            line.quantity, line.unit_price = quantity, price
    customer = order.customer
    if customer is not None and (customer.email is not None or customer.phone is not None):
        try:
            if customer.email is not None:
                customer.email = normalize_email(customer.email)
        except ValueError as exc:
            errors.append(FieldError(detail=str(exc), pointer=f"{where}/customer/email"))
        try:
            if customer.phone is not None:
                region = customer.address.country if customer.address is not None else None
                customer.phone = normalize_phone(customer.phone, region)
        except ValueError as exc:
            errors.append(FieldError(detail=str(exc), pointer=f"{where}/customer/phone"))
    if customer is not None and customer.time_zone is not None:
        try:
            normalize_time_zone(customer.time_zone)
        except ValueError as exc:
            errors.append(FieldError(detail=str(exc), pointer=f"{where}/customer/time_zone"))
    return errors


def _external_id(raw: msgspec.Raw) -> str | None:
    """Best effort: name the row's external_id in a rejection even when the row is malformed."""
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    ext = value.get("external_id") if isinstance(value, dict) else None
    return ext if isinstance(ext, str) else None
