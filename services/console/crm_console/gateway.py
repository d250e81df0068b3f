"""The console's only data source: the gateway, called with the signed-in user's token. Every call gives
an `Answer`: the JSON body, or the API's problem+json in words (a 403 means: hide the panel, say why)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from asgi_correlation_id import correlation_id

from crm_shared.observability import REQUEST_ID_HEADER

Params = Mapping[str, Any]


class SignInRequired(Exception):
    """The gateway refused the user's token (expired or revoked): the user signs in again."""


@dataclass(frozen=True, slots=True)
class Problem:
    status: int
    title: str
    detail: str | None = None

    @property
    def forbidden(self) -> bool:
        return self.status == 403

    @property
    def words(self) -> str:
        return f"{self.title}: {self.detail}" if self.detail else self.title


@dataclass(frozen=True, slots=True)
class Answer:
    data: Any = None
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default) if isinstance(self.data, dict) else default


def _problem(response: httpx.Response) -> Problem:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("title"):
        detail = body.get("detail")
        errors = body.get("errors")
        if isinstance(errors, list) and errors:  # field errors: name the fields
            named = "; ".join(_field_error(e) for e in errors[:5] if isinstance(e, dict))
            detail = f"{detail} ({named})" if detail else named
        return Problem(response.status_code, str(body["title"]), str(detail) if detail else None)
    return Problem(response.status_code, response.reason_phrase or f"HTTP {response.status_code}")


def _field_error(error: dict[str, Any]) -> str:
    where = error.get("pointer") or error.get("parameter") or error.get("header") or ""
    return f"{where} {error.get('detail', '')}".strip()


def clean(params: Params | None) -> dict[str, Any]:
    """Drop unset filters: the API treats an empty value as a value."""
    return {k: v for k, v in (params or {}).items() if v not in (None, "", [], ())}


class Gateway:
    """One user's view of the API for one request."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self._http = http
        self._headers = {"Authorization": f"Bearer {token}"}
        if (request_id := correlation_id.get()) is not None:
            self._headers[REQUEST_ID_HEADER] = request_id

    async def get(self, path: str, params: Params | None = None) -> Answer:
        return await self._send("GET", path, params=clean(params))

    async def post(self, path: str, body: Any = None, *, write: bool = True, version: int | None = None) -> Answer:
        """A write carries a fresh Idempotency-Key (one form submission: one write) and, for a versioned
        row, If-Match with the version the form was built from; a read by POST (a segment preview) neither."""
        headers = {"Idempotency-Key": str(uuid.uuid4())} if write else {}
        if version is not None:
            headers["If-Match"] = f'"{version}"'
        return await self._send("POST", path, json=body, headers=headers)

    async def put(self, path: str, body: Any) -> Answer:
        """A replacing write (a consent): a fresh Idempotency-Key, as every write."""
        return await self._send("PUT", path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})

    async def _send(self, method: str, path: str, **kwargs: Any) -> Answer:
        headers = {**self._headers, **kwargs.pop("headers", {})}
        try:
            response = await self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TimeoutException:
            return Answer(problem=Problem(504, "The API did not answer in time"))
        except httpx.HTTPError as exc:
            return Answer(problem=Problem(502, "The API cannot be reached", type(exc).__name__))
        if response.status_code == 401:
            raise SignInRequired
        if response.status_code >= 400:
            return Answer(problem=_problem(response))
        return Answer(response.json() if response.content else None)


async def gather(**calls: Awaitable[Answer]) -> dict[str, Any]:
    """Several API calls at once (a page's panels), by name."""
    results = await asyncio.gather(*calls.values())
    return dict(zip(calls, results, strict=True))
