"""ETags of versioned rows and the If-Match header that names one (optimistic concurrency).

Every ETag this API issues is a row version in quotes ("3"). `parse_if_match` reads only such tags, weak
or strong; anything else (a list, `*`, a sign, non-ASCII digits, more digits than a bigint holds) is a tag
no row has, so the caller answers 412. It used to run `int()` on whatever `str.isdigit()` accepted: 4,301
digits raised instead of returning (a 500), and superscript digits pass isdigit() but not int().
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from .bounds import INT64_MAX

NO_MATCH = -1  # matches no version: versions start at 1
_MAX_DIGITS = len(str(INT64_MAX))

IfMatchHeader = Annotated[
    str | None, Header(alias="If-Match", description='the ETag from a read, e.g. "3" (W/"3" also matches)')
]


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> int | None:
    """The version an If-Match header names: None without the header, NO_MATCH when it names none."""
    if value is None:
        return None
    tag = value.strip().removeprefix("W/")
    digits = tag[1:-1] if len(tag) >= 2 and tag[0] == tag[-1] == '"' else tag
    if not (0 < len(digits) <= _MAX_DIGITS and digits.isascii() and digits.isdigit()):
        return NO_MATCH
    version = int(digits)
    return version if version <= INT64_MAX else NO_MATCH


def if_match(value: IfMatchHeader = None) -> int | None:
    return parse_if_match(value)


# The version an If-Match header names (None without one, NO_MATCH for a tag no row has); whether the
# header is required is the resource's rule (its service answers 428 where it is).
IfMatchDep = Annotated[int | None, Depends(if_match)]
