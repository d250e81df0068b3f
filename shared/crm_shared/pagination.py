"""Cursor pagination (Zalando, Stripe): opaque cursors signed with HMAC and bound to the filters
they were issued for; `limit` defaults to 50, at most 100; `sort=+a,-b` over declared fields."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, or_

from .errors import BadRequest, FieldError

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


def decode_cursor(cursor: str, filters: Mapping[str, Any], secret: str) -> list[Any]:
    bad = BadRequest(
        "the cursor is invalid, or was issued for other filters or sort",
        errors=[FieldError(detail="invalid cursor", parameter="cursor")],
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, TypeError):
        raise bad from None
    payload, mac = raw[:-12], raw[-12:]
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:12]
    if len(raw) <= 12 or not hmac.compare_digest(mac, expected):
        raise bad
    data = msgspec.json.decode(payload)
    if data.get("f") != _filters_digest(filters):
        raise bad
    return list(data["p"])


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool


def parse_sort(sort: str | None, allowed: Sequence[str], default: str) -> list[SortKey]:
    """Parse `+a,-b` (a bare name is ascending) against the allowed field names."""
    keys = []
    for part in (sort or default).split(","):
        part = part.strip()
        if not part:
            continue
        desc = part.startswith("-")
        name = part.lstrip("+-")
        if name not in allowed:
            raise BadRequest(
                f"cannot sort by '{name}'",
                errors=[FieldError(detail=f"allowed: {', '.join(allowed)}", parameter="sort")],
            )
        keys.append(SortKey(name, desc))
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
