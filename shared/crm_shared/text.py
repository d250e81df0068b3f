"""Text that can be stored and shown: no NUL, no other control character, no lone surrogate, and one line
where the field is a name, a key or an identifier.

PostgreSQL refuses NUL in text and jsonb and a lone surrogate cannot be encoded as UTF-8: either failed the
whole statement (a 500, and a batch lost every row). The other control characters store, but break logs,
CSV exports and screens. Tab, line feed and carriage return stay allowed in free text (descriptions, notes).

`text_problem` is the rule; `SingleLine`/`FreeText` apply it to pydantic fields; `bad_text` walks a decoded
JSON value for it; `suspicious` is the cheap byte test that says whether a JSON body can break it at all.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import AfterValidator

from .errors import FieldError

# C0 controls but tab, LF and CR; DEL and the C1 controls; surrogates (a str holds one only when lone).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_BREAK = re.compile("[\t\n\r\u2028\u2029]")

# What a JSON text must contain for one of its strings to hold such a character. A string holds a control
# character only as an escape (JSON forbids raw C0 bytes in strings) or as raw DEL/C1/U+2028-9 bytes, so a
# body without these byte sequences needs no parsing. Each test starts with a single-byte `in` (memchr
# speed, ~0.1 ms over 3 MB); the regex runs only when that byte is there.
_ESCAPE = re.compile(rb"\\(?:[bfnrt]|u(?:00[01]|007[fF]|00[89]|[dD][89abAB]|202[89]))")
_C1 = re.compile(rb"\xc2[\x80-\x9f]")
_SEPARATOR = re.compile(rb"\xe2\x80[\xa8\xa9]")


def text_problem(value: str, *, single_line: bool = False) -> str | None:
    """Why `value` cannot be stored as given, or None."""
    if (bad := _CONTROL.search(value)) is not None:
        return f"contains the control character U+{ord(bad.group()):04X}"
    if single_line and _BREAK.search(value) is not None:
        return "must be a single line (no tab or line break)"
    return None


def _single_line(value: str) -> str:
    if (problem := text_problem(value, single_line=True)) is not None:
        raise ValueError(problem)
    return value


def _free_text(value: str) -> str:
    if (problem := text_problem(value)) is not None:
        raise ValueError(problem)
    return value


# For pydantic: `Annotated[str, StringConstraints(...), SingleLine]`.
SingleLine = AfterValidator(_single_line)
FreeText = AfterValidator(_free_text)


def suspicious(body: bytes) -> bool:
    """True when a JSON text may hold a string `text_problem` refuses (including a line break)."""
    return (
        (b"\\" in body and _ESCAPE.search(body) is not None)
        or (b"\xc2" in body and _C1.search(body) is not None)
        or (b"\xe2" in body and _SEPARATOR.search(body) is not None)
        or b"\x7f" in body
    )


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")  # RFC 6901


def bad_text(value: Any, pointer: str = "#", *, single_line: bool = False, limit: int = 20) -> list[FieldError]:
    """Every string of a decoded JSON value (object keys included) that `text_problem` refuses, as field
    errors with JSON Pointers; at most `limit` of them."""
    found: list[FieldError] = []
    todo: list[tuple[str, Any]] = [(pointer, value)]
    while todo and len(found) < limit:
        where, item = todo.pop()
        if isinstance(item, str):
            if (problem := text_problem(item, single_line=single_line)) is not None:
                found.append(FieldError(detail=problem, pointer=where))
        elif isinstance(item, dict):
            for key, sub in item.items():
                child = f"{where}/{_escape(key)}"
                if (problem := text_problem(key, single_line=True)) is not None:
                    found.append(FieldError(detail=f"the key {problem}", pointer=child))
                todo.append((child, sub))
        elif isinstance(item, list):
            todo.extend((f"{where}/{i}", sub) for i, sub in enumerate(item))
    found.sort(key=lambda e: e.pointer or "")
    return found[:limit]
