"""Ops basics every service gets: JSON logs carrying the request id, Prometheus /metrics (the request metrics'
middleware), and the Kubernetes probes /healthz (alive, never touches the database) and /readyz."""

from __future__ import annotations

import logging
import sys
from timeit import default_timer
from typing import Any

from asgi_correlation_id import CorrelationIdFilter
from fastapi import APIRouter, Request, Response
from prometheus_fastapi_instrumentator import metrics
from prometheus_fastapi_instrumentator.middleware import PrometheusInstrumentatorMiddleware
from prometheus_fastapi_instrumentator.routing import _effective_routes
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import text
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .pii import PiiScrubFilter, RedactQueryFilter

REQUEST_ID_HEADER = "X-Request-ID"


def configure_logging(
    service: str, *, level: str = "INFO", json: bool = True, access_log: bool = True, trace_ids: bool = False
) -> None:
    """`trace_ids`: with tracing on, each line also carries the `trace_id` and `span_id` of the span in progress,
    so a log line leads to its trace and a trace to its lines."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(CorrelationIdFilter(uuid_length=32, default_value="-"))
    if trace_ids:
        from .tracing import TraceIdFilter

        handler.addFilter(TraceIdFilter())
    handler.addFilter(PiiScrubFilter())
    if json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
                rename_fields={
                    "asctime": "time",
                    "levelname": "level",
                    "name": "logger",
                    "correlation_id": "request_id",
                },
                static_fields={"service": service},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(correlation_id)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
        logger.setLevel(level)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueryFilter) for f in access.filters):
        access.addFilter(RedactQueryFilter())
    if not access_log:  # one line per request costs ~20 us; off where every microsecond counts
        logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def _json(status: int, body: bytes) -> Response:
    return Response(body, status_code=status, media_type="application/json")


def health_router() -> APIRouter:
    router = APIRouter(tags=["ops"], include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> Response:
        return _json(200, b'{"status":"ok"}')

    @router.get("/readyz")
    async def readyz(request: Request) -> Response:
        state = request.app.state
        if getattr(state, "draining", False):
            return _json(503, b'{"status":"draining"}')
        engine = getattr(state, "engine", None)
        if engine is None:  # a part with no database
            return _json(200, b'{"status":"ready"}')
        try:
            async with engine.connect() as conn:
                current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        except Exception as exc:
            return _json(503, b'{"status":"database unreachable","error":"' + type(exc).__name__.encode() + b'"}')
        # Behind head: this code needs migrations not applied yet. A revision this code does not
        # know means newer code migrated first (a rolling upgrade): still ready, schema changes are
        # made backward compatible.
        if current != state.head_revision and current in state.known_revisions:
            body = f'{{"status":"migrations behind","current":"{current}","head":"{state.head_revision}"}}'
            return _json(503, body.encode())
        return _json(200, b'{"status":"ready"}')

    return router


class RouteMetricsMiddleware(PrometheusInstrumentatorMiddleware):
    """prometheus_fastapi_instrumentator's request metrics (same metrics, same labels), with the route named
    after routing from the route Starlette/FastAPI matched (`scope["route"]`), instead of matching the request
    against every route a second time before it runs (~5% of a read's CPU with ~80 routes, bench/gateway
    profile_read.py). The label of a matched route is the template the instrumentator's own matching gives
    (its fully prefixed path, from the same route table); a request no route took (404, a trailing-slash
    redirect), a mount, a route included twice, or FastAPI's own pages (/openapi.json, /docs: plain routes, for
    which it sets no scope["route"]) are named by that matching, on the scope as it was before routing, exactly
    as before. Supports the configuration the services use: no in-progress
    gauge, no body handlers, no async instrumentations."""

    def __init__(self, app: ASGIApp, /, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        if self.should_instrument_requests_inprogress or self.body_handlers or self.async_instrumentations:
            raise ValueError("RouteMetricsMiddleware names the route after the request: no in-progress or body use")
        self._templates: dict[int, str | None] | None = None  # id(route) -> its label; None: ambiguous

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = default_timer()
        before = dict(scope)  # what the fallback matching reads: routing changes root_path, path_params...
        response: list[Any] = [500, [], None]  # status, headers, time the response started

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                response[:] = message["status"], message["headers"], default_timer()
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._observe(scope, before, started, *response)

    def _observe(
        self, scope: Scope, before: Scope, started: float, status_code: int, headers: Any, response_started: Any
    ) -> None:
        handler, templated = self._label(scope, before)
        if self._is_handler_excluded(handler, templated):
            return
        if not templated and self.should_group_untemplated:
            handler = "none"
        duration = max(default_timer() - started, 0.0)
        streaming = max(response_started - started, 0.0) if response_started else 0.0
        if self.should_round_latency_decimals:
            duration = round(duration, self.round_latency_decimals)
            streaming = round(streaming, self.round_latency_decimals)
        status = str(int(status_code))
        if self.should_group_status_codes:
            status = status[0] + "xx"
        info = metrics.Info(
            request=Request(scope),
            response=Response(content=b"", headers=Headers(raw=headers), status_code=status_code),
            method=scope["method"],
            modified_handler=handler,
            modified_status=status,
            modified_duration=duration,
            modified_duration_without_streaming=streaming,
        )
        for instrumentation in self.instrumentations:
            instrumentation(info)

    def _label(self, scope: Scope, before: Scope) -> tuple[str, bool]:
        route = scope.get("route")
        if route is not None:
            if self._templates is None:
                self._templates = _route_templates(scope["app"].routes)
            label = self._templates.get(id(route))
            if label is not None:
                return label, True
        return self._get_handler(Request(before))  # the instrumentator's own matching


def _route_templates(routes: list[BaseRoute]) -> dict[int, str | None]:
    """Each plain route of the table -> the label the instrumentator's matching gives it (its full path); a route
    reachable under two paths -> None. Mounts are left out: their label depends on the sub-route."""
    templates: dict[int, str | None] = {}
    for effective in _effective_routes(routes):
        route = getattr(effective, "original_route", effective)
        path = getattr(effective, "path", None)
        if isinstance(route, Mount) or isinstance(effective, Mount) or path is None:
            continue
        key = id(route)
        templates[key] = path if templates.get(key, path) == path else None
    return templates
