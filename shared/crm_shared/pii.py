"""Personal data: which fields hold it, how they are masked for callers without `pii:read`, and how
logs are kept free of it.

Masking is deny by default: outside a request that declared its access (see `access.Access`), PII
fields serialize masked. Code that must carry the real values (event payloads between services)
dumps with `context=SHOW_PII`."""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from typing import Annotated, Any

from pydantic import SerializationInfo, SerializerFunctionWrapHandler, WrapSerializer

PII_SCOPE = "pii:read"
SHOW_PII: dict[str, bool] = {"pii": True}
MASK = "***"

_visible: ContextVar[bool] = ContextVar("crm_pii_visible", default=False)


def set_pii_visible(visible: bool) -> None:
    _visible.set(visible)


def pii_visible(info: SerializationInfo | None = None) -> bool:
    context = info.context if info is not None else None
    if isinstance(context, dict) and "pii" in context:
        return bool(context["pii"])
    return _visible.get()


def mask_email(value: str) -> str:
    local, at, domain = value.partition("@")
    return f"{local[:1]}{MASK}@{domain}" if at else MASK


def mask_phone(value: str) -> str:
    return MASK + value[-2:] if len(value) > 4 else MASK


def mask_text(value: str) -> str:
    return MASK


def _masker(mask: Any) -> WrapSerializer:
    def serialize(value: Any, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        if value is None or pii_visible(info):
            return handler(value)
        return mask(value)

    return WrapSerializer(serialize)


PiiEmail = Annotated[str, _masker(mask_email)]
PiiPhone = Annotated[str, _masker(mask_phone)]
PiiText = Annotated[str, _masker(mask_text)]  # street lines, postal codes


# --- logs -----------------------------------------------------------------------------------------

# Query parameters whose values are personal data, redacted from access logs.
PII_QUERY_PARAMS = frozenset({"email", "phone", "q", "name", "first_name", "last_name", "postal_code"})
_QUERY_PARAM = re.compile(r"(?P<sep>[?&])(?P<name>[^=&#\s]+)=(?P<value>[^&#\s\"]*)")


def redact_query(text: str) -> str:
    """`/customers?email=a@b.c&limit=5` -> `/customers?email=[redacted]&limit=5`."""

    def replace(m: re.Match[str]) -> str:
        if m["name"].lower() in PII_QUERY_PARAMS:
            return f"{m['sep']}{m['name']}=[redacted]"
        return m[0]

    return _QUERY_PARAM.sub(replace, text)


# Values that look like personal data in any log line or traceback: email addresses, and phone numbers
# in the normalized international form the service stores (+ and 6-16 digits). PostgreSQL echoes bad
# input values in its error messages ('invalid input syntax ... "ana@example.com"'), so hiding SQL
# parameters (hide_parameters) is not enough on its own.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+\d{6,16}\b")


def scrub(text: str) -> str:
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


class PiiScrubFilter(logging.Filter):
    """On the log handler: scrub the message and the traceback of every record before it is formatted."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "@" in message or "+" in message:
            record.msg, record.args = scrub(message), None
        if record.exc_info:
            # Formatters print exc_text when exc_info is gone (logging and python-json-logger alike).
            record.exc_text = scrub(self._formatter.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


class RedactQueryFilter(logging.Filter):
    """On uvicorn's access log, whose args are (client, method, path with query, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], redact_query(args[2]), *args[3:])
        return True
