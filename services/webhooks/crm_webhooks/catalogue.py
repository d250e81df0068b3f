"""The event types a webhook subscription may name, and what each caller may receive of them.

Subscribable: the registered types (crm_shared.schemas.events.EVENT_TYPES) that this service's topology
entry subscribes to. Who may receive what, deny by default:
- a partner: only the types whose payload names a partner (a top-level `partner` field: the order events),
  and of those only the events that name it;
- staff without pii:read: every subscribable type whose payload holds no personal data (emails, phones,
  names, addresses: the customer.created/updated snapshots);
- staff with pii:read: every subscribable type.

Filters compare top-level scalar fields of the payload (see `filter_fields`)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import msgspec
from msgspec import inspect as mi

from crm_shared.schemas.common import Payload
from crm_shared.schemas.events import EVENT_TYPES
from crm_shared.topology import SERVICES

PARTNER_FIELD = "partner"
# Payload fields that hold personal data wherever they appear (nested or not).
_PII_FIELDS = frozenset({"email", "phone", "address", "first_name", "last_name"})
_SCALARS = (mi.StrType, mi.LiteralType, mi.UUIDType, mi.BoolType, mi.IntType, mi.NoneType)


def _patterns() -> tuple[str, ...]:
    return tuple(p for patterns in SERVICES["webhooks"].subscribes.values() for p in patterns)


def matches(event_type: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(event_type, p) for p in patterns)


SUBSCRIBABLE: dict[str, type[Payload]] = {t: s for t, s in sorted(EVENT_TYPES.items()) if matches(t, _patterns())}


def _holds_pii(t: mi.Type, seen: set[type] | None = None) -> bool:
    seen = seen if seen is not None else set()
    if isinstance(t, mi.StructType):
        if t.cls in seen:
            return False
        seen.add(t.cls)
        return any(f.name in _PII_FIELDS or _holds_pii(f.type, seen) for f in t.fields)
    if isinstance(t, mi.UnionType):
        return any(_holds_pii(u, seen) for u in t.types)
    if isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        return _holds_pii(t.item_type, seen)
    if isinstance(t, mi.DictType):
        return _holds_pii(t.value_type, seen)
    return False


def _fields(payload: type[Payload]) -> dict[str, mi.Field]:
    info = mi.type_info(payload)
    assert isinstance(info, mi.StructType)
    return {f.name: f for f in info.fields}


PII_TYPES = frozenset(t for t, s in SUBSCRIBABLE.items() if _holds_pii(mi.type_info(s)))
PARTNER_TYPES = frozenset(t for t, s in SUBSCRIBABLE.items() if PARTNER_FIELD in _fields(s))


@dataclass(frozen=True)
class Audience:
    """Whose subscription it is: a partner (its client id) or staff, with or without pii:read."""

    partner: str | None
    pii: bool

    def may_receive(self, event_type: str) -> bool:
        if event_type not in SUBSCRIBABLE:
            return False
        if self.partner is not None:
            return event_type in PARTNER_TYPES
        return self.pii or event_type not in PII_TYPES

    def visible_types(self) -> list[str]:
        return [t for t in SUBSCRIBABLE if self.may_receive(t)]


def _scalar(t: mi.Type) -> bool:
    if isinstance(t, mi.UnionType):
        return all(_scalar(u) for u in t.types)
    return isinstance(t, _SCALARS)


@cache
def filter_fields(event_type: str) -> dict[str, Any]:
    """The top-level scalar fields of a type's payload (strings, enums, ids, booleans, integers) a filter
    may compare, each with its annotation (to check a filter's values against)."""
    payload = SUBSCRIBABLE[event_type]
    annotations = {f.name: f.type for f in msgspec.structs.fields(payload)}
    return {name: annotations[name] for name, f in _fields(payload).items() if _scalar(f.type)}
