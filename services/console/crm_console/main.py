"""The console app: server-rendered pages (Jinja2 + HTMX) over the gateway's API. The suite's probes,
metrics, JSON logs and graceful shutdown come from crm_shared, as in the services; there is no database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_fastapi_instrumentator import Instrumentator
from starlette.middleware.sessions import SessionMiddleware

from crm_shared.observability import REQUEST_ID_HEADER, configure_logging, health_router
from crm_shared.shutdown import GracefulShutdown

from .config import Settings
from .gateway import SignInRequired
from .oidc import oidc_client
from .pages import ROUTERS
from .render import render
from .security import SecurityHeadersMiddleware
from .session import CsrfRefused, NotSignedIn, sign_out
from .signin import router as signin_router

STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "crm_console"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(
            settings.service_name, level=settings.log_level, json=settings.log_json, access_log=settings.access_log
        )
        app.state.draining = False

        def drain() -> None:
            app.state.draining = True

        shutdown = GracefulShutdown(drain, delay=settings.shutdown_delay_seconds)
        shutdown.install()
        async with httpx.AsyncClient(base_url=settings.gateway_url, timeout=settings.gateway_timeout) as http:
            app.state.http = http
            try:
                yield
            finally:
                shutdown.uninstall()
                drain()

    app = FastAPI(title="CRM console", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.oidc = oidc_client(settings)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.cookie_key(),
        session_cookie=SESSION_COOKIE,
        max_age=int(settings.session_hours * 3600),
        same_site="lax",
        https_only=settings.environment == "production",
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(CorrelationIdMiddleware, header_name=REQUEST_ID_HEADER)
    Instrumentator(excluded_handlers=["/metrics", "/healthz", "/readyz", "/static"]).instrument(app).expose(
        app, include_in_schema=False
    )
    app.include_router(health_router())
    app.include_router(signin_router)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(NotSignedIn)
    async def _sign_in_first(request: Request, exc: NotSignedIn) -> Response:
        return _to_login(request)

    @app.exception_handler(SignInRequired)
    async def _token_refused(request: Request, exc: SignInRequired) -> Response:
        sign_out(request)
        return _to_login(request)

    @app.exception_handler(CsrfRefused)
    async def _csrf_refused(request: Request, exc: CsrfRefused) -> Response:
        return render(
            request,
            "error.html",
            status_code=403,
            title="This form has expired",
            detail="Reload the page and send it again.",
        )

    return app


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = f"/login?next={quote(target, safe='')}"
    if "HX-Request" in request.headers:  # a fragment request: HTMX follows this header with a full page load
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)
