"""The worker's HTTP transport: it resolves a receiver's host once per connection, refuses it when any
address it resolves to is private, loopback or link-local, and connects to an address it vetted.

Checking a name and then letting the HTTP client resolve it again to connect leaves a window: a resolver
that answers a public address to the check and an inside one a moment later (DNS rebinding) gets the
service to call inside. Here the check and the connection use the same answer, so there is no second
lookup. The connection still belongs to the host name: httpcore keys its pool by the URL's origin, sends
the name in the Host header and as the TLS SNI, and verifies the certificate against it; only the TCP
connect goes to the vetted address (a network backend of httpcore, which httpx does not expose: the
transport's pool is built here with it)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

Resolve = Callable[[str, int], Awaitable[list[str]]]


def is_private(address: str) -> bool:
    """An address on a private, loopback, link-local (or otherwise not global) network, or localhost."""
    if address == "localhost" or address.endswith(".localhost"):
        return True
    try:
        return not ipaddress.ip_address(address.split("%", 1)[0]).is_global  # an IPv6 zone is not part of it
    except ValueError:
        return False  # a name: vetted by what it resolves to


async def system_resolve(host: str, port: int) -> list[str]:
    """The host's addresses, in the resolver's order, each once."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class PrivateAddress(httpcore.ConnectError):
    """The host resolves inside (httpx reports it as a ConnectError with this message)."""


class VettedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's asyncio backend, connecting to addresses this resolution vetted."""

    def __init__(
        self, *, allow_private: bool, resolve: Resolve = system_resolve, inside: Callable[[str], bool] = is_private
    ) -> None:
        self._allow_private = allow_private
        self._resolve = resolve
        self._inside = inside
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await asyncio.wait_for(self._resolve(host, port), timeout)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"{host}: no address within {timeout:g} s") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"{host}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        inside = [a for a in addresses if self._inside(a)]
        if inside and not self._allow_private:
            # Any inside answer refuses the host: a receiver that needs one is not a partner's.
            raise PrivateAddress(
                f"{host} resolves to a private, loopback or link-local address ({inside[0]}): not called"
            )
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:  # in order, as a client connecting by name would
            try:
                return await self._backend.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("receivers are reached over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def pinned_transport(
    *,
    allow_private: bool,
    resolve: Resolve = system_resolve,
    inside: Callable[[str], bool] = is_private,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections go to vetted addresses (no proxy from the environment)."""
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)  # httpx's
    transport = httpx.AsyncHTTPTransport(trust_env=False, limits=limits)
    # httpx builds its pool without a network backend argument; this one is the same pool with ours.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=VettedBackend(allow_private=allow_private, resolve=resolve, inside=inside),
    )
    return transport
