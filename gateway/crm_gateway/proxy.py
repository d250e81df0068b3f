"""The /api/ hot path: a plain ASGI callable that routes, authenticates, checks the scope and the
rate limit, then streams the request to the service and the response back over a pooled aiohttp
session. Per request it does one pass over the headers, dict lookups and no validation objects;
anything slow (logging, metric label lookups, key hashing) is either cached or off the success path."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from time import perf_counter

import aiohttp
from asgi_correlation_id import correlation_id
from asgi_correlation_id.middleware import is_valid_uuid4
from yarl import URL

from crm_shared.auth import INTERNAL_HEADER_PREFIX, PRINCIPAL_HEADER, PrincipalTokens
from crm_shared.errors import (
    BadGateway,
    BadRequest,
    Forbidden,
    GatewayTimeout,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    TooManyRequests,
    Unauthorized,
)
from crm_shared.tracing import TRACEPARENT, Tracing

from .asgi import Headers, Receive, Scope, Send, send_problem
from .auth import Authenticator, AuthError
from .config import GatewaySettings
from .cors import CorsPolicy
from .metrics import UNMATCHED, ProxyMetrics
from .ratelimit import ClientRateLimiter
from .routes import Route, RouteTable
from .scopes import READ_METHODS

log = logging.getLogger("crm.gateway.proxy")

# Request headers the proxy handles itself, by the slot it keeps their value in (-1: dropped).
# Hop-by-hop headers (RFC 9110 7.6.1) and any client-sent x-crm-* header never reach a service;
# credentials stop here too: services trust only the signed principal token the gateway adds.
_AUTHORIZATION, _API_KEY, _REQUEST_ID, _CONNECTION, _HOST, _ORIGIN = range(6)
_DROP = -1
_REQUEST_SPECIAL: dict[bytes, int] = {
    b"authorization": _AUTHORIZATION,
    b"x-api-key": _API_KEY,
    b"x-request-id": _REQUEST_ID,
    b"connection": _CONNECTION,
    b"host": _HOST,
    b"origin": _ORIGIN,
    **dict.fromkeys(
        (
            b"keep-alive",
            b"proxy-authorization",
            b"proxy-connection",
            b"te",
            b"trailer",
            b"transfer-encoding",
            b"upgrade",
            b"expect",  # uvicorn answers 100-continue itself when the body is read
            # uvicorn already resolved these into scope["client"] / ["scheme"] for trusted proxies
            # (--forwarded-allow-ips); the services get that result, never a client's claim.
            b"x-forwarded-for",
            b"x-forwarded-proto",
            b"x-forwarded-host",
        ),
        _DROP,
    ),
}
# Response headers not passed back: hop-by-hop ones, and those uvicorn or the gateway set itself.
_RESPONSE_DROP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"date",
        b"server",
        b"x-request-id",
    }
)
_PLAIN_CONNECTION = frozenset({b"keep-alive", b"close"})  # name no other header: nothing more to drop
# Bodies up to this size are read whole and sent in one message; larger or unsized ones stream.
_BUFFER_LIMIT = 128 * 1024
_REQUEST_ID_HEADER = b"x-request-id"
# Safe to send twice: the method says so, or the service de-duplicates by Idempotency-Key.
_RETRYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_INTERNAL_PREFIX = INTERNAL_HEADER_PREFIX.encode()
_PUBLIC_METHODS = frozenset({"GET", "POST"})
_TRACE_HEADERS = frozenset({TRACEPARENT, "tracestate"})


class ClientGone(Exception):
    """The client disconnected while its request body was still being read."""


class BodyTooLarge(Exception):
    """A streamed request body passed the gateway's limit."""


class Proxy:
    def __init__(
        self,
        settings: GatewaySettings,
        routes: RouteTable,
        authenticator: Authenticator,
        tokens: PrincipalTokens,
        metrics: ProxyMetrics,
        limiter: ClientRateLimiter | None,
        cors: CorsPolicy | None,
        *,
        traced: bool = False,
    ) -> None:
        self.settings = settings
        self.traced = traced  # tracing on: the service gets the gateway span's traceparent, not the client's
        self.routes = routes
        self.auth = authenticator
        self.tokens = tokens
        self.metrics = metrics
        self.limiter = limiter
        self.cors = cors
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        s = self.settings
        connector = aiohttp.TCPConnector(
            limit=s.pool_limit,
            limit_per_host=s.pool_limit_per_host,
            keepalive_timeout=s.keepalive_timeout,
            ttl_dns_cache=60,
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            # Wait for a pooled connection and read idle up to upstream_timeout; no total limit, so
            # long streamed exports are fine as long as bytes keep coming.
            timeout=aiohttp.ClientTimeout(
                total=None, connect=s.upstream_timeout, sock_connect=s.connect_timeout, sock_read=s.upstream_timeout
            ),
            auto_decompress=False,  # bytes pass through as the service encoded them
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = perf_counter()
        route, status = UNMATCHED, 500
        try:
            route, status = await self._handle(scope, receive, send)
        except Exception:
            log.exception("proxy failure on %s %s", scope["method"], scope["path"])
            # If the response had started already the server refuses this and drops the connection.
            with contextlib.suppress(Exception):
                await send_problem(
                    send, ProblemError, "an unexpected error occurred", instance=scope["path"], headers=[]
                )
        finally:
            self.metrics.observe(route, status, perf_counter() - started)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> tuple[str, int]:
        # One pass over the headers: collect the forwarded ones and keep the special ones.
        forward: list[tuple[str, str]] = []
        special: list[bytes | None] = [None] * 6
        for name, value in scope["headers"]:
            slot = _REQUEST_SPECIAL.get(name)
            if slot is None:
                if not name.startswith(_INTERNAL_PREFIX):
                    forward.append((name.decode("latin-1"), value.decode("latin-1")))
            elif slot != _DROP:
                special[slot] = value
        connection = special[_CONNECTION]
        if connection is not None and connection.lower() not in _PLAIN_CONNECTION:
            # Before the gateway adds its own headers: a client names only headers it sent itself.
            forward = _without_connection_tokens(forward, connection)

        request_id = special[_REQUEST_ID]
        if request_id is None or len(request_id) > 64 or not is_valid_uuid4(request_id.decode("latin-1")):
            # Same acceptance rule as the services' asgi-correlation-id, so both log one id.
            request_id = new_request_id()
        request_id_text = request_id.decode("latin-1")
        correlation_id.set(request_id_text)  # the JSON logs' request_id field
        reply: Headers = [(_REQUEST_ID_HEADER, request_id)]
        if self.cors is not None:
            reply += self.cors.response_headers(special[_ORIGIN])

        path: str = scope["path"]
        route = self.routes.match_request(scope)  # with tracing on, already matched to name the span
        if route is None:
            return UNMATCHED, await send_problem(
                send, NotFound, "no service serves this path", instance=path, headers=reply
            )
        if "/." in path and _has_dot_segment(path):
            return route.prefix, await send_problem(
                send, BadRequest, "the path must not contain '.' or '..' segments", instance=path, headers=reply
            )

        if route.public:
            return route.prefix, await self._public(scope, receive, send, route, forward, reply, request_id_text)

        authorization, api_key = special[_AUTHORIZATION], special[_API_KEY]
        try:
            caller = await self.auth.authenticate(
                authorization.decode("latin-1") if authorization is not None else None,
                api_key.decode("latin-1") if api_key is not None else None,
            )
        except AuthError as exc:
            reply.append((b"www-authenticate", exc.challenge.encode()))
            return route.prefix, await send_problem(send, Unauthorized, exc.detail, instance=path, headers=reply)

        method: str = scope["method"]
        needed = route.read_scope if method in READ_METHODS else route.write_scope
        if needed not in caller.principal.scopes:
            reply.append((b"www-authenticate", f'Bearer error="insufficient_scope", scope="{needed}"'.encode()))
            return route.prefix, await send_problem(
                send, Forbidden, f"this call needs the scope '{needed}'", instance=path, headers=reply
            )

        if self.limiter is not None and (wait := await self.limiter.retry_after(caller.rate_key)) is not None:
            reply.append((b"retry-after", str(wait).encode()))
            return route.prefix, await send_problem(
                send,
                TooManyRequests,
                f"rate limit of {self.settings.rate_limit} exceeded, retry in {wait} s",
                instance=path,
                headers=reply,
            )

        # Headers the gateway sets: the signed principal, the request id and the X-Forwarded-* trio.
        forward.append((PRINCIPAL_HEADER, caller.minted.token_for(route.upstream.name, self.tokens)))
        forward.append(("x-request-id", request_id_text))
        client = scope.get("client")
        forward.append(("x-forwarded-for", client[0] if client else "unknown"))
        forward.append(("x-forwarded-proto", scope.get("scheme", "http")))
        if (host := special[_HOST]) is not None:
            forward.append(("x-forwarded-host", host.decode("latin-1")))
        status = await self._forward(scope, receive, send, route, forward, reply)
        return route.prefix, status

    async def _public(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: Route,
        forward: list[tuple[str, str]],
        reply: Headers,
        request_id: str,
    ) -> int:
        """A page opened from a signed link: no caller to authenticate, so nothing but GET and POST, small
        bodies, a budget per client address, and no principal token (the service trusts only its own
        signature in the link). Credentials a client sends anyway are dropped like everywhere."""
        path: str = scope["path"]
        if scope["method"] not in _PUBLIC_METHODS:
            reply.append((b"allow", b"GET, POST"))
            return await send_problem(
                send, MethodNotAllowed, "public pages answer GET and POST only", instance=path, headers=reply
            )
        client = scope.get("client")
        address = client[0] if client else "unknown"
        if self.limiter is not None and (wait := await self.limiter.retry_after(f"public:{address}")) is not None:
            reply.append((b"retry-after", str(wait).encode()))
            return await send_problem(
                send, TooManyRequests, f"too many requests, retry in {wait} s", instance=path, headers=reply
            )
        forward.append(("x-request-id", request_id))
        forward.append(("x-forwarded-for", address))
        forward.append(("x-forwarded-proto", scope.get("scheme", "http")))
        return await self._forward(
            scope, receive, send, route, forward, reply, limit=self.settings.public_max_body_bytes
        )

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: Route,
        headers: list[tuple[str, str]],
        reply: Headers,
        *,
        limit: int | None = None,
    ) -> int:
        path: str = scope["path"]
        upstream = route.upstream
        if self.traced:
            headers = _with_current_trace(headers)
        raw_path: bytes = scope.get("raw_path") or path.encode()
        try:
            url = URL.build(
                scheme=upstream.scheme,
                host=upstream.host,
                port=upstream.port,
                path=raw_path.decode("ascii"),
                query_string=scope["query_string"].decode("ascii"),
                encoded=True,  # forward the path and query exactly as the client encoded them
            )
        except UnicodeDecodeError:
            return await send_problem(
                send, BadRequest, "the URL must be percent-encoded ASCII", instance=path, headers=reply
            )

        limit = limit or self.settings.max_body_bytes
        if _declared_length(scope) > limit:
            return await send_problem(send, PayloadTooLarge, _too_large(limit), instance=path, headers=reply)
        # Small bodies arrive in one message and go up as bytes; bigger ones stream chunk by chunk.
        message = await receive()
        if message["type"] == "http.disconnect":
            return 499
        body: bytes = message.get("body", b"")
        overflow = _Overflow()
        data: bytes | AsyncIterator[bytes] | None = (
            _stream_body(body, receive, limit, overflow) if message.get("more_body") else (body or None)
        )

        session = self.session
        if session is None:
            raise RuntimeError("the proxy is used before the app's lifespan started")
        method: str = scope["method"]
        try:
            try:
                response = await session.request(method, url, headers=headers, data=data, allow_redirects=False)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                # A pooled connection the service had already closed fails before any byte of an answer.
                # Send once more on a fresh connection when that cannot apply a change twice and the
                # body is still in hand (not a consumed stream).
                replayable = not isinstance(data, AsyncIterator)
                if not replayable or not (method in _RETRYABLE_METHODS or _has_idempotency_key(headers)):
                    raise
                log.info("upstream %s closed a pooled connection; retrying %s %s once", upstream.name, method, path)
                response = await session.request(method, url, headers=headers, data=data, allow_redirects=False)
        except ClientGone:
            return 499
        except BodyTooLarge:
            return await send_problem(send, PayloadTooLarge, _too_large(limit), instance=path, headers=reply)
        except TimeoutError:
            return await self._upstream_failed(
                send, GatewayTimeout, upstream.name, "did not answer in time", path, reply
            )
        except (aiohttp.ClientError, OSError) as exc:
            if overflow.hit:  # aiohttp wraps the body iterator's exception in its own
                return await send_problem(send, PayloadTooLarge, _too_large(limit), instance=path, headers=reply)
            return await self._upstream_failed(
                send, BadGateway, upstream.name, f"is unreachable ({type(exc).__name__})", path, reply
            )
        try:
            return await self._relay(response, send, reply, upstream.name, path)
        finally:
            response.release()

    async def _relay(
        self, response: aiohttp.ClientResponse, send: Send, reply: Headers, service: str, path: str
    ) -> int:
        ours = len(reply)  # the gateway's own headers come first; an error reply keeps only those
        for name, value in response.raw_headers:
            name = name.lower()
            if name not in _RESPONSE_DROP:
                reply.append((name, value))
        status = response.status
        length = response.content_length
        if length is not None and length <= _BUFFER_LIMIT:
            try:
                body = await response.read()
            except TimeoutError:
                del reply[ours:]
                return await self._upstream_failed(send, GatewayTimeout, service, "stalled mid-response", path, reply)
            except aiohttp.ClientError as exc:
                del reply[ours:]
                return await self._upstream_failed(
                    send, BadGateway, service, f"broke off its response ({type(exc).__name__})", path, reply
                )
            await send({"type": "http.response.start", "status": status, "headers": reply})
            await send({"type": "http.response.body", "body": body})
            return status

        await send({"type": "http.response.start", "status": status, "headers": reply})
        content = response.content
        try:
            while chunk := await content.readany():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except (TimeoutError, aiohttp.ClientError) as exc:
            # Too late for an error status: returning without the final message makes the server
            # drop the connection, so the client sees a truncated response instead of a short one.
            log.warning("upstream %s broke off a streamed response on %s: %r", service, path, exc)
            return status
        await send({"type": "http.response.body", "body": b""})
        return status

    @staticmethod
    async def _upstream_failed(
        send: Send, problem: type[ProblemError], service: str, what: str, path: str, reply: Headers
    ) -> int:
        log.warning("upstream %s %s on %s", service, what, path)
        return await send_problem(send, problem, f"the {service} service {what}", instance=path, headers=reply)


class _Overflow:
    hit = False


async def _stream_body(first: bytes, receive: Receive, limit: int, overflow: _Overflow) -> AsyncIterator[bytes]:
    seen = len(first)
    if first:
        yield first
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        if chunk := message.get("body", b""):
            seen += len(chunk)
            if seen > limit:  # an unsized (chunked) body: the declared-length check could not see it
                overflow.hit = True
                raise BodyTooLarge
            yield chunk
        if not message.get("more_body"):
            return


def new_request_id() -> bytes:
    """A random UUID (version 4) as 32 hex digits; a third of uuid.uuid4().hex's cost."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return raw.hex().encode()


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() and len(value) < 19 else 1 << 62
    return 0


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit} bytes"


def _has_idempotency_key(headers: list[tuple[str, str]]) -> bool:
    return any(name.lower() == "idempotency-key" for name, _ in headers)


def _with_current_trace(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The client's trace headers replaced by the gateway span's: the service's span becomes its child."""
    trace: dict[str, str] = {}
    Tracing.inject(trace)
    return [(name, value) for name, value in headers if name.lower() not in _TRACE_HEADERS] + list(trace.items())


def _has_dot_segment(path: str) -> bool:
    return any(segment in (".", "..") for segment in path.split("/"))


def _without_connection_tokens(headers: list[tuple[str, str]], connection: bytes) -> list[tuple[str, str]]:
    """Drop the headers a client marked hop-by-hop by naming them in Connection (RFC 9110 7.6.1)."""
    listed = {token.strip().lower() for token in connection.decode("latin-1").split(",")}
    return [(name, value) for name, value in headers if name not in listed]
