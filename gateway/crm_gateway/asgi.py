"""Raw ASGI helpers for the hot path: problem+json replies without building Response objects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from crm_shared.errors import PROBLEM_JSON, ProblemError, problem_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

_CONTENT_TYPE = (b"content-type", PROBLEM_JSON.encode())


async def send_problem(
    send: Send,
    problem: type[ProblemError],
    detail: str,
    *,
    instance: str,
    headers: Headers,
) -> int:
    """Send a complete RFC 9457 response with `problem`'s status, type and title; return the status."""
    code: int = problem.status
    body = problem_body(code, title=problem.title, type_=problem.type, detail=detail, instance=instance)
    headers.append(_CONTENT_TYPE)
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return code
