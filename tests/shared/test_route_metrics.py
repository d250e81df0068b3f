"""The request metrics' route label (crm_shared/observability.py RouteMetricsMiddleware, issue 13): named from the
route the router matched instead of matching every route a second time, with exactly the labels
prometheus_fastapi_instrumentator's own matching gives: every route of the customer service called once (each
method), and on a probe app the requests no route takes (404, a trailing-slash redirect, refused before
routing), a 405, a router included twice, a mount with routes and the excluded /metrics."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

import pytest
from fastapi import APIRouter
from prometheus_fastapi_instrumentator.routing import _effective_routes, get_route_name
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, Router

from crm_customer.main import create_app
from crm_shared.access import allow
from crm_shared.app import METRICS_EXCLUDED, create_service_app
from crm_shared.auth import Principal
from crm_shared.observability import RouteMetricsMiddleware
from crm_shared.settings import ServiceSettings
from crm_shared.testing import TEST_PRINCIPAL_KEY, app_client, principal_headers

EVERY_SCOPE = ("customers:read", "customers:write", "orders:read", "orders:write", "complaints:read")
EVERY_SCOPE += ("complaints:write", "pii:read", "customers:admin")
_PARAM = re.compile(r"{([^}:]+)(?::([^}]+))?}")


def _instrumentator_label(app, method: str, path: str) -> str:
    """The handler label prometheus_fastapi_instrumentator's middleware gives, matching before routing."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "app": app, "headers": []}
    scope["query_string"] = b""
    name = get_route_name(Request(scope), should_include_root_path=False)
    return name or "none"


def _recording(app) -> list[tuple[str, str, str]]:
    """The (method, handler, status) labels the app's request metrics record, from here on. (Only the first app
    of a process records into the global registry, so the test hands the middleware its own instrumentation.)"""
    seen: list[tuple[str, str, str]] = []
    for middleware in app.user_middleware:
        if middleware.cls is RouteMetricsMiddleware:
            middleware.kwargs["instrumentations"] = [
                lambda info: seen.append((info.method, info.modified_handler, info.modified_status))
            ]
    return seen


async def _call(client, app, seen, method: str, path: str, *, excluded: bool = False) -> str:
    expected = _instrumentator_label(app, method, path)
    seen.clear()
    r = await client.request(method, path, follow_redirects=False)
    assert seen == ([] if excluded else [(method, expected, f"{str(r.status_code)[0]}xx")]), (path, r.status_code)
    return expected


def _concrete(template: str) -> str:
    def value(m: re.Match[str]) -> str:
        return str(uuid.uuid4()) if m.group(2) == "uuid" else ("7" if m.group(2) == "int" else "x1")

    return _PARAM.sub(value, template)


async def test_every_customer_route_keeps_its_label(settings, monkeypatch):
    matched_again = []  # requests the middleware had to match against the routes itself
    fallback = RouteMetricsMiddleware._get_handler
    monkeypatch.setattr(
        RouteMetricsMiddleware, "_get_handler", lambda self, r: matched_again.append(r) or fallback(self, r)
    )
    app = create_app(settings.model_copy(update={"name_groups_worker": False}))
    headers = principal_headers("u1", "user", *EVERY_SCOPE, roles=("staff", "admin"))
    seen = _recording(app)
    async with app_client(app, headers=headers) as client:
        labels = set()
        for route in _effective_routes(app.routes):
            for method in sorted(getattr(route, "methods", None) or ()):
                if method == "HEAD":
                    continue
                excluded = any(re.search(pattern, route.path) for pattern in METRICS_EXCLUDED)
                labels.add(await _call(client, app, seen, method, _concrete(route.path), excluded=excluded))
        assert len(labels) > 45  # every route, each named by its template
        assert "none" not in labels
        # Named from the route the router matched; only FastAPI's own pages (plain routes: it sets no
        # scope["route"] for them) are matched again.
        assert {r.url.path for r in matched_again} == {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
        assert {"/api/v1/customers/duplicates", "/api/v1/customers/{survivor_id:uuid}/merge"} <= labels


@pytest.fixture
async def probe():
    settings = ServiceSettings(
        service_name="probe",
        cursor_secret="c" * 32,
        event_secret="e" * 32,
        principal_keys=[TEST_PRINCIPAL_KEY],
        log_json=False,
    )
    router = APIRouter(prefix="/api/v1/probe")

    @router.get("/things/{key}")
    async def thing(key: str, principal: Annotated[Principal, allow("customers:read")]) -> dict:
        return {"key": key}

    @router.post("/things")
    async def make(principal: Annotated[Principal, allow("customers:write")]) -> dict:
        return {}

    outer = APIRouter(prefix="/api/v1/outer")
    outer.include_router(router)  # nested: the same routes under a second prefix
    app = create_service_app(
        settings=settings, title="probe", description="", service_dir=None, routers=[router, outer]
    )

    async def item(request):
        return PlainTextResponse(request.path_params["i"])

    app.mount("/sub", Router([Route("/items/{i}", item)]))
    caller = principal_headers("u1", "user", "customers:read", "customers:write", service="probe")
    seen = _recording(app)
    async with app_client(app, headers=caller) as client:
        yield app, client, seen


async def test_requests_no_route_took_and_mounts_keep_their_labels(probe):
    app, client, seen = probe
    assert await _call(client, app, seen, "GET", "/api/v1/probe/things/a") == "/api/v1/probe/things/{key}"
    assert await _call(client, app, seen, "GET", "/api/v1/outer/api/v1/probe/things/a") == (
        "/api/v1/outer/api/v1/probe/things/{key}"
    )
    assert await _call(client, app, seen, "DELETE", "/api/v1/probe/things/a") == "/api/v1/probe/things/{key}"  # 405
    assert await _call(client, app, seen, "GET", "/nowhere/at/all") == "none"  # 404
    assert await _call(client, app, seen, "POST", "/api/v1/probe/things/") == "/api/v1/probe/things/"  # a redirect
    assert await _call(client, app, seen, "GET", "/sub/items/3") == "/sub/items/{i}"
    await _call(client, app, seen, "GET", "/metrics", excluded=True)
    client.headers.clear()  # refused by the principal check, outermost: never reaches the metrics, as before
    await _call(client, app, seen, "GET", "/api/v1/probe/things/b", excluded=True)
