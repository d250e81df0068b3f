"""The stored form of a customer's name, email, phone and time zone: one spelling per value, so look-ups
and duplicate detection find every way of writing it. Customers, contacts and pushed orders all store
them this way."""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from zoneinfo import available_timezones

import phonenumbers

from crm_shared.text import text_problem

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_FORMAT_HINT = "in international form, e.g. +34 600 123 456"


def display_name(kind: str, first: str | None, last: str | None, company: str | None) -> str:
    if kind == "company":
        return company or ""
    return " ".join(p for p in (first, last) if p) or company or ""


def email_key(value: str) -> str:
    """Unicode NFKC, then case folding: every spelling of one address (composed or decomposed accents,
    full-width letters, any case) becomes one key, so look-ups and duplicate detection find it."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold()).strip()


def normalize_email(value: str) -> str:
    """A valid address, as `email_key` stores it."""
    email = email_key(value)
    if len(email) > 320 or not _EMAIL.match(email) or text_problem(email, single_line=True) is not None:
        raise ValueError("not a valid email address")
    return email


def normalize_phone(value: str, region: str | None = None) -> str:
    """E.164 ('+34600123456'), parsed by libphonenumber: any spacing or punctuation, 00 for +, full-width,
    superscript or Arabic-Indic digits. A number without its country code needs `region` (ISO 3166-1
    alpha-2, e.g. the address's country); one the numbering plan does not know is refused."""
    return _e164(value, region)


@lru_cache(maxsize=65_536)
def _e164(value: str, region: str | None) -> str:
    """Cached: parsing costs ~20-35 us, and a batch of orders repeats its customers' numbers."""
    text = unicodedata.normalize("NFKC", value).strip()  # superscript and full-width digits to ASCII
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValueError(f"not a phone number; give it {_FORMAT_HINT}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"not a valid phone number; give it {_FORMAT_HINT}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_key(value: str) -> str:
    """A phone filter's value as it is stored, or the value unchanged when it is not a number."""
    try:
        return normalize_phone(value)
    except ValueError:
        return value


@cache
def _zones() -> frozenset[str]:
    # Read once (~30 ms): the names of the tz database. Membership, not ZoneInfo(name), so that a file
    # path or an alias the database does not list is refused too.
    # `localtime` and `posixrules` are files of the system's zoneinfo folder, not zones.
    return frozenset(available_timezones()) - {"localtime", "posixrules", "Factory"}


def normalize_time_zone(value: str) -> str:
    """An IANA time zone name as given (`Europe/Madrid`, `America/New_York`, `UTC`); ValueError when
    the tz database does not know it. Names are case-sensitive, as PostgreSQL's AT TIME ZONE reads them."""
    if value not in _zones():
        raise ValueError(f"'{value[:64]}' is not an IANA time zone name, e.g. Europe/Madrid")
    return value
