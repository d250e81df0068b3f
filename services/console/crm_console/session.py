"""Who is signed in: the session (a signed, HttpOnly, SameSite=Lax cookie: Starlette's SessionMiddleware)
holds the user's JWT, its subject, roles and expiry, and the CSRF token every POST must echo."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request

from .gateway import Gateway
from .permissions import writes_of

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class NotSignedIn(Exception):
    """No session, or its token has expired: the page answers with the sign-in page."""


class CsrfRefused(Exception):
    """A POST without the session's CSRF token."""


@dataclass(frozen=True, slots=True)
class Viewer:
    subject: str
    roles: tuple[str, ...]
    token: str
    expires_at: float
    gateway: Gateway
    writes: frozenset[str] = frozenset()  # the write scopes its roles hold (permissions.py)

    def may(self, scope: str) -> bool:
        """Whether the API would let this user's roles through a write needing `scope`."""
        return scope in self.writes


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (also before sign-in: the sign-in form needs it)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def sign_in(request: Request, token: str) -> None:
    """Keep the token in a new session (a new CSRF token too: no fixation across the sign-in)."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})  # the gateway verifies
    roles = claims.get("roles", [])
    request.session.clear()
    request.session.update(
        token=token,
        sub=str(claims.get("sub", "")),
        roles=[roles] if isinstance(roles, str) else [r for r in roles if isinstance(r, str)],
        exp=float(claims.get("exp", time.time() + 3600)),
    )
    csrf_token(request)


def sign_out(request: Request) -> None:
    request.session.clear()


def viewer(request: Request) -> Viewer:
    session = request.session
    token, expires = session.get("token"), session.get("exp")
    if not isinstance(token, str) or not isinstance(expires, float | int) or expires <= time.time():
        raise NotSignedIn
    http: httpx.AsyncClient = request.app.state.http
    roles = tuple(session.get("roles", ()))
    writes = writes_of(roles, request.app.state.settings.role_writes)
    return Viewer(str(session.get("sub", "")), roles, token, float(expires), Gateway(http, token), writes)


async def check_csrf(request: Request) -> None:
    """POSTs carry the token as a form field or, from HTMX, as a header."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    expected = request.session.get("csrf")
    if not sent or not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
        raise CsrfRefused


ViewerDep = Annotated[Viewer, Depends(viewer)]
CsrfChecked = Depends(check_csrf)
