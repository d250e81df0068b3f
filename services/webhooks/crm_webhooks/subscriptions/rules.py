"""What a subscription may say, checked on every write (each problem a field error pointing into the
body), and how its event types and filters select events.

- `url`: https (http only where the setting allows it), a host, no credentials or fragment; an IP
  literal on a private, loopback or link-local network only where the setting allows it.
- `event_types`: registered types or `*` patterns (fnmatch: `order.*`, `*`) over the subscribable ones;
  each must select at least one type its owner may receive (crm_webhooks.catalogue).
- `filters`: `{field: value}` (equality) or `{field: [values]}` (one of), on top-level scalar fields of
  the selected types' payloads: strings, enumerations, ids, booleans, integers. An event passes when
  every filter's field is in its data with one of the values; an event whose payload has no such field
  does not pass. E.g. `{"to_stage": "decline"}` on `lifecycle.changed`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import msgspec

from crm_shared.errors import FieldError
from crm_shared.text import bad_text, text_problem

from ..catalogue import PARTNER_FIELD, SUBSCRIBABLE, Audience, filter_fields, matches
from ..deliveries.pinned_transport import is_private

MAX_PATTERNS = 50
MAX_FILTERS = 10
MAX_VALUES = 50
_PATTERN = re.compile(r"[a-z0-9_.*]{1,100}")
Scalar = str | int | bool | None


def url_problems(url: str, *, allow_http: bool, allow_private_hosts: bool) -> list[FieldError]:
    def problem(detail: str) -> list[FieldError]:
        return [FieldError(detail=detail, pointer="#/url")]

    if (bad := text_problem(url, single_line=True)) is not None or " " in url:
        return problem(bad or "must not contain spaces")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError as exc:
        return problem(f"not a URL: {exc}")
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        return problem(f"the scheme must be {' or '.join(schemes)}")
    if not parts.hostname:
        return problem("the URL has no host")
    if parts.username is not None or parts.password is not None:
        return problem("credentials in the URL are not allowed (they would be logged); authenticate by signature")
    if parts.fragment:
        return problem("a fragment is never sent: remove it")
    if not allow_private_hosts and is_private(parts.hostname):
        return problem("the host is on a private, loopback or link-local network")
    return []


def selected_types(patterns: Iterable[str], audience: Audience) -> list[str]:
    """The subscribable types the patterns select that the audience may receive."""
    patterns = list(patterns)
    return [t for t in audience.visible_types() if matches(t, patterns)]


def pattern_problems(patterns: list[str], audience: Audience) -> list[FieldError]:
    if not patterns:
        return [FieldError(detail="name at least one event type or pattern", pointer="#/event_types")]
    if len(patterns) > MAX_PATTERNS:
        return [FieldError(detail=f"at most {MAX_PATTERNS} entries", pointer="#/event_types")]
    errors = []
    for i, pattern in enumerate(patterns):
        where = f"#/event_types/{i}"
        if not _PATTERN.fullmatch(pattern):
            errors.append(
                FieldError(detail="an event type such as order.created, or a pattern such as order.*", pointer=where)
            )
        elif not any(matches(t, [pattern]) for t in SUBSCRIBABLE):
            errors.append(FieldError(detail="matches no event type offered (GET .../event-types)", pointer=where))
        elif not selected_types([pattern], audience):
            errors.append(FieldError(detail="matches no event type you may receive", pointer=where))
    return errors


def normalize_filters(filters: dict[str, Any], types: list[str]) -> tuple[dict[str, Any], list[FieldError]]:
    """The filters with each value in its canonical JSON form (a UUID in lower case, ...), or the field
    errors that say why they cannot select events of `types`."""
    if errors := bad_text(filters, "#/filters"):
        return {}, errors
    if len(filters) > MAX_FILTERS:
        return {}, [FieldError(detail=f"at most {MAX_FILTERS} filters", pointer="#/filters")]
    fields: dict[str, list[Any]] = {}
    for event_type in types:
        for name, annotation in filter_fields(event_type).items():
            fields.setdefault(name, []).append(annotation)
    normalized: dict[str, Any] = {}
    errors = []
    for name, value in filters.items():
        where = f"#/filters/{_escape(name)}"
        if name not in fields:
            known = ", ".join(sorted(fields)) or "none"
            errors.append(
                FieldError(detail=f"not a field the selected event types can be filtered on ({known})", pointer=where)
            )
            continue
        values = value if isinstance(value, list) else [value]
        if not values or len(values) > MAX_VALUES:
            errors.append(FieldError(detail=f"one value, or a list of 1 to {MAX_VALUES}", pointer=where))
            continue
        canonical = []
        for i, item in enumerate(values):
            converted = _convert(item, fields[name])
            if converted is _INVALID:
                at = f"{where}/{i}" if isinstance(value, list) else where
                errors.append(FieldError(detail=f"{item!r} is not a possible value of {name}", pointer=at))
            canonical.append(converted)
        normalized[name] = canonical if isinstance(value, list) else canonical[0]
    return normalized, errors


_INVALID = object()


def _convert(value: Any, annotations: list[Any]) -> Any:
    if isinstance(value, dict | list | float):
        return _INVALID
    for annotation in annotations:
        try:
            return msgspec.to_builtins(msgspec.convert(value, annotation))
        except msgspec.ValidationError:
            continue
    return _INVALID


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


class Selector:
    """A subscription's event types and filters, compiled once per fan-out: `selects(type)` once per event
    type of a delivery, then `passes(data)` per event of a selected type."""

    def __init__(self, patterns: list[str], filters: dict[str, Any], audience: Audience) -> None:
        self._patterns = patterns
        self._audience = audience
        self._filters = {
            name: {msgspec.json.encode(v) for v in (value if isinstance(value, list) else [value])}
            for name, value in filters.items()
        }

    def selects(self, event_type: str) -> bool:
        return matches(event_type, self._patterns) and self._audience.may_receive(event_type)

    def passes(self, data: dict[str, Any]) -> bool:
        """An event of a selected type: the partner it names (a partner's subscription) and the filters."""
        if self._audience.partner is not None and data.get(PARTNER_FIELD) != self._audience.partner:
            return False
        return all(name in data and msgspec.json.encode(data[name]) in values for name, values in self._filters.items())
