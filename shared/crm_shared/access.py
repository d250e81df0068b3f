"""Who may call what, declared on every endpoint.

`PrincipalMiddleware` answers 401 to any `/api/` request without a valid principal token for this
service, before routing. Each API endpoint then declares its access with `allow(...)`: the scope it
needs and what a partner may do there. A service refuses to start if an API route has no such
declaration (deny by default), and the declaration is published in the OpenAPI document as
`x-crm-access`, from which the access matrix test is generated.

`pii=True` marks an endpoint whose responses carry personal data (masked without pii:read): a
caller holding pii:read who reads it is recorded in the audit log, as is every API write (see
`crm_shared.audit`; this dependency is what runs before and after every API handler)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from . import audit
from .auth import PRINCIPAL_HEADER, InvalidPrincipalToken, Principal, PrincipalTokens
from .errors import Forbidden, Unauthorized, problem_body
from .pii import PII_SCOPE, set_pii_visible

PROBLEM_JSON = b"application/problem+json"
API_PREFIX = "/api/"
_HEADER = PRINCIPAL_HEADER.encode()

# What a partner (an API key) may do on an endpoint:
#   "none": refused (403), whatever its scopes;
#   "own":  allowed, and the endpoint shows and changes only what is the partner's (others' is 404).
PartnerRule = Literal["none", "own"]


class PrincipalMiddleware:
    """Verify `X-CRM-Principal` on every /api/ request; the principal lands in request.state."""

    def __init__(self, app: Any, tokens: PrincipalTokens, audience: str) -> None:
        self.app = app
        self.tokens = tokens
        self.audience = audience

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(API_PREFIX):
            token = None
            for name, value in scope["headers"]:
                if name == _HEADER:
                    if token is not None:  # two principals: refuse rather than pick one
                        token = b""
                        break
                    token = value
            try:
                if not token:
                    raise InvalidPrincipalToken("missing")
                principal = self.tokens.verify(token.decode("latin-1"), self.audience)
            except InvalidPrincipalToken:
                await _send_401(scope, send)
                return
            scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


async def _send_401(scope: dict[str, Any], send: Any) -> None:
    body = problem_body(
        401,
        title="Unauthorized",
        type_=Unauthorized.type,
        detail="call this service through the gateway: the principal token is missing or not valid",
        instance=scope["path"],
    )
    headers = [(b"content-type", PROBLEM_JSON), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Access:
    """The dependency behind `allow()`: yields the verified principal; once the handler has returned,
    audits the call if no session dependency did (see `crm_shared.audit`)."""

    def __init__(
        self, scope: str, *, partner: PartnerRule = "none", extra: Iterable[str] = (), pii: bool = False
    ) -> None:
        self.scope = scope
        self.partner = partner
        self.extra = tuple(extra)  # scopes needed besides `scope` (e.g. audit:read)
        self.pii = pii  # responses carry personal data: an unmasked read is audited

    async def __call__(self, request: Request) -> AsyncIterator[Principal]:
        principal: Principal | None = getattr(request.state, "principal", None)
        if principal is None:  # an /api/ route is always behind the middleware; anything else is a bug
            raise Unauthorized("no principal")
        for needed in (self.scope, *self.extra):
            if needed not in principal.scopes:
                raise Forbidden(f"this call needs the scope '{needed}'")
        if principal.is_partner and self.partner == "none":
            raise Forbidden("partners may not use this endpoint")
        set_pii_visible(PII_SCOPE in principal.scopes)
        audit.expect(request, principal, pii=self.pii)
        yield principal
        # Reached only when the handler returned (an exception skips it): the call succeeded.
        await audit.record_unclaimed(request)

    def describe(self) -> dict[str, Any]:
        return {"scopes": [self.scope, *self.extra], "partner": self.partner, "pii": self.pii}


def allow(scope: str, *, partner: PartnerRule = "none", extra: Iterable[str] = (), pii: bool = False) -> Any:
    """`principal: Annotated[Principal, allow("customers:read", partner="own", pii=True)]`.

    scope="function": the code after the handler (the audit row) runs before the response is sent."""
    return Depends(Access(scope, partner=partner, extra=extra, pii=pii), scope="function")


def _accesses(dependant: Dependant) -> list[Access]:
    found = [d.call for d in dependant.dependencies if isinstance(d.call, Access)]
    for sub in dependant.dependencies:
        found += _accesses(sub)
    return found


def route_access(route: APIRoute) -> Access | None:
    found = _accesses(route.dependant)
    return found[0] if found else None


def api_routes(routers: Iterable[APIRouter]) -> list[APIRoute]:
    return [r for router in routers for r in router.routes if isinstance(r, APIRoute) and r.path.startswith(API_PREFIX)]


def enforce_declared_access(routes: Iterable[APIRoute]) -> None:
    """Refuse to build an app with an API route that does not say who may call it."""
    missing = []
    for route in routes:
        found = _accesses(route.dependant)
        if len(found) != 1:
            missing.append(f"{sorted(route.methods or ())} {route.path} ({len(found)} access declarations)")
    if missing:
        raise RuntimeError("every API route needs exactly one allow(...): " + "; ".join(missing))


def document_access(routes: Iterable[APIRoute], spec: dict[str, Any]) -> dict[str, Any]:
    """Add each operation's declaration to the OpenAPI document as `x-crm-access`."""
    for route in routes:
        if not route.include_in_schema:
            continue
        access = route_access(route)
        if access is None:
            continue
        for method in route.methods or ():
            operation = spec.get("paths", {}).get(route.path_format, {}).get(method.lower())
            if operation is not None:
                operation["x-crm-access"] = access.describe()
    return spec
