"""Routing table: API prefix -> upstream service and the scope each method needs; public prefixes ->
their upstream, with no scope.

Built once from crm_shared.topology; matching is one dict lookup per prefix depth, on whole path
segments (`/api/v1/ordersX` does not match `/api/v1/orders`)."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from crm_shared.topology import SERVICES

from .scopes import family_of

_MATCHED = "crm_gateway.route"  # the scope key keeping a request's matched route (None: no service serves it)


@dataclass(frozen=True, slots=True)
class Upstream:
    name: str
    base_url: str
    scheme: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Route:
    prefix: str
    upstream: Upstream
    read_scope: str
    write_scope: str
    public: bool = False  # a /public/ page: no authentication, GET and POST only (see proxy)


def upstream_from(name: str, base_url: str) -> Upstream:
    """`base_url` is scheme://host[:port] (GatewaySettings checks it)."""
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Upstream(name, base_url, parts.scheme, parts.hostname or "", port)


class RouteTable:
    def __init__(self, services: dict[str, str]) -> None:
        self.upstreams = {name: upstream_from(name, url) for name, url in services.items()}
        self._by_prefix: dict[str, Route] = {}
        for name, upstream in self.upstreams.items():
            for prefix in SERVICES[name].prefixes:
                family = family_of(prefix)
                self._by_prefix[prefix.rstrip("/")] = Route(
                    prefix.rstrip("/"), upstream, f"{family}:read", f"{family}:write"
                )
            for prefix in SERVICES[name].public_prefixes:
                self._by_prefix[prefix.rstrip("/")] = Route(prefix.rstrip("/"), upstream, "", "", public=True)
        # Segment counts of the known prefixes, longest first ("/api/v1/orders" -> 3).
        self._depths = sorted({p.count("/") for p in self._by_prefix}, reverse=True)
        self._max_depth = self._depths[0] if self._depths else 0

    @property
    def routes(self) -> list[Route]:
        return list(self._by_prefix.values())

    def prefixes_of(self, service: str) -> list[str]:
        return [r.prefix for r in self._by_prefix.values() if r.upstream.name == service]

    def match_request(self, scope: MutableMapping[str, Any]) -> Route | None:
        """`match` of the request's path, once per request: with tracing on, the span is named (main.span_name)
        before the proxy runs, and both read the match kept in the scope."""
        try:
            route: Route | None = scope[_MATCHED]
        except KeyError:
            route = scope[_MATCHED] = self.match(scope["path"])
        return route

    def match(self, path: str) -> Route | None:
        """Longest routed prefix that `path` equals or continues with '/'."""
        parts = path.split("/", self._max_depth + 1)
        for depth in self._depths:
            if len(parts) > depth and (route := self._by_prefix.get("/".join(parts[: depth + 1]))):
                return route
        return None
