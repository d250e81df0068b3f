"""CORS for browser frontends, done in the ASGI layer: the proxy adds precomputed header tuples to
responses it builds anyway, so a request without `Origin` costs nothing here."""

from __future__ import annotations

from .asgi import Headers, Scope

ALLOW_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = b"Authorization, Content-Type, X-API-Key, Idempotency-Key, If-Match, If-None-Match, X-Request-ID"
EXPOSE_HEADERS = b"X-Request-ID, Retry-After, ETag, Location, Link, Idempotent-Replayed, WWW-Authenticate"


class CorsPolicy:
    def __init__(self, origins: list[str], max_age: int) -> None:
        self.any_origin = "*" in origins
        self.origins = frozenset(o.rstrip("/").encode() for o in origins)
        self._expose = (b"access-control-expose-headers", EXPOSE_HEADERS)
        # Responses differ by Origin unless every origin gets "*": tell caches so.
        self._vary: Headers = [] if self.any_origin else [(b"vary", b"Origin")]
        self._preflight: Headers = [
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", ALLOW_HEADERS),
            (b"access-control-max-age", str(max_age).encode()),
            (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
        ]

    def allows(self, origin: bytes) -> bool:
        return self.any_origin or origin in self.origins

    def _allow_origin(self, origin: bytes) -> tuple[bytes, bytes]:
        return (b"access-control-allow-origin", b"*" if self.any_origin else origin)

    def response_headers(self, origin: bytes | None) -> Headers:
        """Headers for an actual (non-preflight) response."""
        if origin is not None and self.allows(origin):
            return [self._allow_origin(origin), self._expose, *self._vary]
        return list(self._vary)

    def preflight_headers(self, origin: bytes) -> Headers:
        return [self._allow_origin(origin), *self._preflight]


def preflight_origin(scope: Scope) -> bytes | None:
    """The Origin of a CORS preflight (OPTIONS with Access-Control-Request-Method), else None."""
    if scope["method"] != "OPTIONS":
        return None
    origin = None
    requested = False
    for name, value in scope["headers"]:
        if name == b"origin":
            origin = value
        elif name == b"access-control-request-method":
            requested = True
    return origin if requested else None


def request_origin(scope: Scope) -> bytes | None:
    headers: Headers = scope["headers"]
    for name, value in headers:
        if name == b"origin":
            return value
    return None
