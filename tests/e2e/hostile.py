"""Hostile inputs for the fuzz run. Random data from the schema alone rarely reaches the code that breaks:
most requests name rows that do not exist (404), and an odd value is rarely the only odd one in its
request. So the schemathesis hooks below mostly send the ids of rows that exist (a customer, its order,
contact, complaint ... created before the run), and in one request part out of three replace one value
with an entry of a fuzzing dictionary: characters PostgreSQL refuses, separators alone, numbers past
int64, dates at the ends of the calendar, digits that are not ASCII. Hypothesis draws every choice, so
a derandomized run stays deterministic."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

Json = Any

# Any text: NUL, separators only, huge and out-of-range numbers, calendar ends, non-ASCII digits,
# control and bidi characters, decomposed Unicode, SQL.
TEXT = (
    "\x00",
    "a\x00b",
    ",",
    "+",
    " , + ,",
    "9" * 5000,
    "9223372036854775808",
    "-9223372036854775809",
    "1e400",
    "NaN",
    "9999-12-31",
    "0001-01-01",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:30:00+01:00",
    "9999-12-31T23:59:59-14:00",
    "\u0661\u0662\u0663",  # Arabic-Indic digits
    "\uff11\uff12\uff13",  # full-width digits
    "\u00b9\u00b2\u00b3",  # superscript digits
    "a\u202eb\x07\x1b[0m",
    "Jose\u0301@example.com",  # NFD
    "' OR 1=1 --",
)
# What a header may carry (no control characters, Latin-1, no surrounding blanks).
HEADER_TEXT = (
    "9" * 5000,
    '"' + "9" * 5000 + '"',
    "9223372036854775808",
    '"-1"',
    'W/"1"',
    "*",
    ",",
    "1e400",
)
NUMBERS = (2**63, -(2**63) - 1, 2**31, 10**12, 10**13, 1e308, -1e308, 0.000001)
INJECT = st.integers(0, 2).map(lambda n: n == 0)  # one time in three

# Ids of rows that exist, by parameter name (filled by the test's fixture before the run); "key" names
# a tag or a complaint category, depending on the path.
KNOWN: dict[str, str] = {}


def known_value(name: str, path: str) -> str | None:
    if name == "key":
        return KNOWN.get("category_key" if "/complaints/" in path else "tag_key")
    return KNOWN.get(name)


def _leaves(value: Json, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Json]]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in _leaves(item, (*path, key))]
    if isinstance(value, list):
        return [leaf for i, item in enumerate(value) for leaf in _leaves(item, (*path, i))]
    if isinstance(value, bool) or value is None:
        return []
    return [(path, value)] if isinstance(value, str | int | float) else []


def _replace(value: Json, path: tuple[Any, ...], new: Json) -> Json:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


def _hostile(leaves: list[tuple[tuple[Any, ...], Json]], texts: tuple[str, ...]) -> st.SearchStrategy:
    """(path, value) replacing one leaf: a text for a text, a number for a number."""
    return st.sampled_from(leaves).flatmap(
        lambda leaf: st.tuples(
            st.just(leaf[0]), st.sampled_from(texts if isinstance(leaf[1], str) else NUMBERS + tuple(texts[:3]))
        )
    )


def inject(value: Json, texts: tuple[str, ...] = TEXT) -> st.SearchStrategy:
    """`value` as generated, or with one of its leaves made hostile."""
    leaves = _leaves(value)
    if not leaves:
        return st.just(value)
    return INJECT.flatmap(
        lambda yes: _hostile(leaves, texts).map(lambda hit: _replace(value, *hit)) if yes else st.just(value)
    )


def with_known(value: Json, path: str) -> st.SearchStrategy:
    """`value` as generated, or with the ids it names replaced by those of rows that exist."""
    if not isinstance(value, dict):
        return st.just(value)
    known = {name: v for name in value if (v := known_value(name, path)) is not None}
    if not known:
        return st.just(value)
    # False first: Hypothesis starts from (and mostly stays near) the simplest choice.
    return st.booleans().map(lambda generated: value if generated else {**value, **known})


def install(schema: Any) -> None:
    """Register the hooks on a schemathesis schema (and so on its clones)."""

    @schema.hook
    def flatmap_path_parameters(ctx: Any, path_parameters: Json) -> st.SearchStrategy:
        return with_known(path_parameters, ctx.operation.path).flatmap(inject)

    @schema.hook
    def flatmap_query(ctx: Any, query: Json) -> st.SearchStrategy:
        return inject(query)

    @schema.hook
    def flatmap_headers(ctx: Any, headers: Json) -> st.SearchStrategy:
        if not isinstance(headers, dict):
            return st.just(headers)
        # The test sends its own Idempotency-Key: a hostile one would never reach the service.
        kept = {name: value for name, value in headers.items() if name.lower() == "idempotency-key"}
        rest = {name: str(value) for name, value in headers.items() if name not in kept}
        return inject(rest, HEADER_TEXT).map(lambda sent: {**sent, **kept})

    @schema.hook
    def flatmap_body(ctx: Any, body: Json) -> st.SearchStrategy:
        return with_known(body, ctx.operation.path).flatmap(inject)
