"""Cursor pagination (Zalando, Stripe): opaque cursors signed with HMAC and bound to the filters
they were issued for; `limit` defaults to 50, at most 100; `sort=+a,-b` over declared fields."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from types import FunctionType, MethodType
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, or_

from .bounds import INT64_MAX, day_problem, instant_problem
from .errors import BadRequest, FieldError, Unprocessable

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
T = TypeVar("T")

LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"page size, default {DEFAULT_LIMIT}")]
CursorQuery = Annotated[str | None, Query(max_length=2048, description="`next_cursor` of the previous page")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


def _filters_digest(filters: Mapping[str, Any]) -> str:
    canonical = msgspec.json.encode({k: filters[k] for k in sorted(filters)}, enc_hook=str)
    return hashlib.sha256(canonical).hexdigest()[:16]


def encode_cursor(position: Sequence[Any], filters: Mapping[str, Any], secret: str) -> str:
    payload = msgspec.json.encode({"p": list(position), "f": _filters_digest(filters)}, enc_hook=str)
    mac = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(payload + mac).decode().rstrip("=")


_BIGINT = Annotated[int, msgspec.Meta(ge=-INT64_MAX - 1, le=INT64_MAX)]


class _Payload(msgspec.Struct):
    p: list[str | _BIGINT | float | bool | None]  # a position holds JSON scalars; an integer fits a bigint
    f: str


_payload = msgspec.json.Decoder(_Payload)
# One entry per position value: a type msgspec converts to (an ISO string to a datetime, date or UUID; an
# int is bounded to a bigint; `str | None` ...), or a function of the value that raises ValueError,
# TypeError or ArithmeticError on a bad one.
Shape = Sequence[Any]


def _convert(value: Any, kind: Any) -> Any:
    if isinstance(kind, FunctionType | MethodType | partial):
        out = kind(value)
    else:
        out = msgspec.convert(value, _BIGINT if kind is int else kind, strict=False)
    if isinstance(out, datetime) and instant_problem(out) is not None:
        raise ValueError("instant out of range")
    if isinstance(out, date) and not isinstance(out, datetime) and day_problem(out) is not None:
        raise ValueError("day out of range")
    return out


def invalid_cursor() -> BadRequest:
    """The answer to any cursor this request cannot continue from (400 naming `cursor`)."""
    return BadRequest(
        "the cursor is invalid, or was issued for other filters or sort",
        errors=[FieldError(detail="invalid cursor", parameter="cursor")],
    )


def decode_cursor(cursor: str, filters: Mapping[str, Any], secret: str, shape: Shape | None = None) -> list[Any]:
    """The position a cursor holds. With `shape` (one type or converter per value), each value comes back
    converted, and a position of another shape is refused like a forged cursor: a signature proves only
    that this service issued it, not that the release that issued it wrote the same shape (or that the
    secret never leaked). Without `shape`, the values are JSON scalars, integers within a bigint."""
    bad = invalid_cursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, TypeError):
        raise bad from None
    payload, mac = raw[:-12], raw[-12:]
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:12]
    if len(raw) <= 12 or not hmac.compare_digest(mac, expected):
        raise bad
    try:
        data = _payload.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise bad from None
    if data.f != _filters_digest(filters):
        raise bad
    position = data.p
    if shape is None:
        return position
    if len(position) != len(shape):
        raise bad
    try:
        return [_convert(value, kind) for value, kind in zip(position, shape, strict=True)]
    except (msgspec.ValidationError, ValueError, TypeError, ArithmeticError):
        raise bad from None


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool


def _bad_sort(detail: str, allowed: Sequence[str]) -> Unprocessable:
    return Unprocessable(detail, errors=[FieldError(detail=f"allowed: {', '.join(allowed)}", parameter="sort")])


def parse_sort(sort: str | None, allowed: Sequence[str], default: str) -> list[SortKey]:
    """Parse `+a,-b` (a bare name is ascending) against the allowed field names: at least one field,
    each at most once (so a route with one sortable field always gets exactly one key)."""
    keys: list[SortKey] = []
    for part in (sort or default).split(","):
        part = part.strip()
        if not part:
            continue
        desc = part.startswith("-")
        name = part[1:].strip() if part[0] in "+-" else part
        if name not in allowed:
            raise _bad_sort(f"cannot sort by '{name}'", allowed)
        if any(k.field == name for k in keys):
            raise _bad_sort(f"'{name}' is sorted by twice", allowed)
        keys.append(SortKey(name, desc))
    if not keys:
        raise _bad_sort("sort names no field", allowed)
    return keys


def keyset_after(columns: Sequence[tuple[ColumnElement[Any], bool]], values: Sequence[Any]) -> ColumnElement[bool]:
    """WHERE clause for rows after `values` in the order of `columns` ((column, descending) pairs):
    (a > x) OR (a = x AND b > y) ..., each comparison flipped for descending columns."""
    clauses = []
    for i, (col, desc) in enumerate(columns):
        prefix = [c == v for (c, _), v in zip(columns[:i], values[:i], strict=True)]
        step = col < values[i] if desc else col > values[i]
        clauses.append(and_(*prefix, step))
    return or_(*clauses)
