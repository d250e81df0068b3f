"""Sign-in and sign-out pages: the development login (pick a role) and OpenID Connect."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from crm_shared.launcher import dev_token

from .config import DEV_ROLES, Settings
from .render import render
from .session import CsrfChecked, sign_in, sign_out

router = APIRouter(include_in_schema=False)
DEV_TOKEN_HOURS = 1  # the development token's life; then the user picks a role again


def safe_next(target: str | None) -> str:
    """Only a path of this site (no scheme, no //host): an open redirect otherwise."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get("/login")
async def login_page(request: Request, next: str | None = None, error: str | None = None) -> Response:
    settings = _settings(request)
    dev = settings.dev_signing_key() is not None
    return render(
        request,
        "login.html",
        next=safe_next(next),
        roles=DEV_ROLES if dev else (),
        oidc=settings.oidc_enabled,
        error=error,
    )


@router.post("/login/dev", dependencies=[CsrfChecked])
async def dev_login(request: Request, role: Annotated[str, Form()], next: Annotated[str, Form()] = "/") -> Response:
    settings = _settings(request)
    key = settings.dev_signing_key()
    if key is None:
        return render(
            request,
            "login.html",
            status_code=403,
            next=safe_next(next),
            roles=(),
            oidc=False,
            error="The development sign-in is off here.",
        )
    if role not in DEV_ROLES:
        return render(
            request,
            "login.html",
            status_code=422,
            next=safe_next(next),
            roles=DEV_ROLES,
            oidc=settings.oidc_enabled,
            error=f"Unknown role {role!r}.",
        )
    token = dev_token(
        {"jwt_secret": key},
        role,
        hours=DEV_TOKEN_HOURS,
        audience=settings.dev_jwt_audience,
        issuer=settings.dev_jwt_issuer,
    )
    sign_in(request, token)
    return RedirectResponse(safe_next(next), status_code=303)


@router.get("/login/oidc")
async def oidc_login(request: Request, next: str | None = None) -> Response:
    client: Any = request.app.state.oidc
    if client is None:
        return RedirectResponse("/login", status_code=303)
    request.session["next"] = safe_next(next)
    settings = _settings(request)
    base = settings.public_url.rstrip("/") if settings.public_url else str(request.base_url).rstrip("/")
    response: Response = await client.authorize_redirect(request, f"{base}/auth/callback")
    return response


@router.get("/auth/callback")
async def oidc_callback(request: Request) -> Response:
    from authlib.integrations.starlette_client import OAuthError  # type: ignore[import-untyped]

    client: Any = request.app.state.oidc
    if client is None:
        return RedirectResponse("/login", status_code=303)
    target = safe_next(request.session.get("next"))
    try:
        token = await client.authorize_access_token(request)
    except OAuthError as exc:
        return RedirectResponse(f"/login?error={exc.error}", status_code=303)
    access = token.get("access_token")
    if not isinstance(access, str) or access.count(".") != 2:
        return RedirectResponse("/login?error=the+provider+sent+no+JWT+access+token", status_code=303)
    sign_in(request, access)
    return RedirectResponse(target, status_code=303)


@router.post("/logout", dependencies=[CsrfChecked])
async def logout(request: Request) -> Response:
    sign_out(request)
    return RedirectResponse("/login", status_code=303)
