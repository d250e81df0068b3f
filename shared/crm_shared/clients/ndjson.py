"""Reading another service's NDJSON export: each line decoded as it arrives, and a transport error
mid-stream asks again from the last line received (the export's `after` parameter), so a long download
survives a dropped connection without starting over."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import httpx

ItemT = TypeVar("ItemT")


async def resumable_lines(
    http: httpx.AsyncClient,
    path: str,
    params: dict[str, Any],
    *,
    decode: Callable[[str], ItemT],
    resume: Callable[[ItemT], dict[str, Any]],
    max_resumes: int,
    log: logging.Logger,
    on_resume: Callable[[], None] | None = None,
) -> AsyncIterator[ItemT]:
    """Every line of GET `path` decoded; after a break the GET is repeated with `params` updated by
    `resume(last item)`, up to `max_resumes` times (`on_resume` is told of each). An error status raises
    httpx.HTTPStatusError."""
    position: dict[str, Any] = {}
    resumed = 0
    while True:
        try:
            async with http.stream("GET", path, params={**params, **position}) as answer:
                answer.raise_for_status()
                async for line in answer.aiter_lines():
                    if line:
                        item = decode(line)
                        position = resume(item)
                        yield item
            return
        except httpx.TransportError as exc:
            if resumed >= max_resumes:
                raise
            resumed += 1
            log.warning("export %s interrupted at %s (%s): resuming", path, position, exc)
            if on_resume is not None:
                on_resume()
