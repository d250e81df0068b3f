"""NDJSON exports (`application/x-ndjson`): a whole table streamed as one line per row, read a page at a time
by keyset on a unique key, each page in its own short session so a long download holds no snapshot or locks
open. The last line's key resumes the export (`after`), so a client cut off mid-stream asks again from there."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from fastapi.responses import StreamingResponse

MEDIA_TYPE = "application/x-ndjson"
# The `responses=` of an export endpoint, so the OpenAPI document names the media type.
RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {MEDIA_TYPE: {}}}}

RowT = TypeVar("RowT")
KeyT = TypeVar("KeyT")


async def keyset_lines(
    read_page: Callable[[KeyT | None], Awaitable[Sequence[RowT]]],
    *,
    after: KeyT | None,
    key: Callable[[RowT], KeyT],
    line: Callable[[RowT], str],
    page_size: int,
) -> AsyncIterator[bytes]:
    """Pages of rows after `after` in key order, each as newline-terminated lines. `read_page(last)` returns
    the rows after `last` (None: from the start), at least `page_size` of them unless the table ends there."""
    last = after
    while True:
        rows = await read_page(last)
        if not rows:
            return
        last = key(rows[-1])
        yield ("\n".join(map(line, rows)) + "\n").encode()
        if len(rows) < page_size:
            return


def response(lines: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(lines, media_type=MEDIA_TYPE)
