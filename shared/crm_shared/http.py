"""HTTP client for calls between services: timeouts always, retries only where a retry is safe.

Timeouts become 504 and connection failures 502 problem responses (`GatewayTimeout`, `BadGateway`).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import httpx
import stamina

from .auth import PRINCIPAL_HEADER, MintedTokens, Principal, PrincipalTokens
from .errors import BadGateway, GatewayTimeout

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class ServiceAuth(httpx.Auth):
    """A service calling another directly: each request carries a fresh principal token of kind
    `service`, signed with the suite's principal key, for exactly the scopes the call needs."""

    def __init__(self, keys: list[str], *, caller: str, audience: str, scopes: tuple[str, ...]) -> None:
        self._tokens = PrincipalTokens(keys, issuer=caller)
        self._minted = MintedTokens(Principal(caller, "service", frozenset(scopes), ("service",)))
        self._audience = audience

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[PRINCIPAL_HEADER] = self._minted.token_for(self._audience, self._tokens)
        yield request


class RetryableStatus(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"upstream answered {response.status_code}")
        self.response = response


RETRY_ON = (httpx.TransportError, RetryableStatus)


class ServiceClient:
    """One client per upstream service. `request(..., idempotent=True)` opts a POST into retries
    (event delivery is safe to repeat because consumers de-duplicate by event id)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 2.0,
        attempts: int = 4,
        retry_timeout: float = 30.0,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            headers=headers,
            transport=transport,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )
        self._attempts = attempts
        self._retry_timeout = retry_timeout

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(self, method: str, url: str, *, idempotent: bool | None = None, **kwargs: Any) -> httpx.Response:
        retry = idempotent if idempotent is not None else method.upper() in IDEMPOTENT_METHODS
        try:
            if not retry:
                return await self._client.request(method, url, **kwargs)
            async for attempt in stamina.retry_context(
                on=RETRY_ON, attempts=self._attempts, timeout=self._retry_timeout
            ):
                with attempt:
                    response = await self._client.request(method, url, **kwargs)
                    if response.status_code in (502, 503, 504):
                        raise RetryableStatus(response)
            return response
        except RetryableStatus as exc:
            return exc.response
        except httpx.TimeoutException as exc:
            raise GatewayTimeout(f"{self._client.base_url} did not answer in time") from exc
        except httpx.TransportError as exc:
            raise BadGateway(f"{self._client.base_url} is unreachable: {exc.__class__.__name__}") from exc

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)
