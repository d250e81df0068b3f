"""Ops basics every service gets: JSON logs carrying the request id, Prometheus /metrics, and the
Kubernetes probes /healthz (alive, never touches the database) and /readyz."""

from __future__ import annotations

import logging
import sys

from asgi_correlation_id import CorrelationIdFilter
from fastapi import APIRouter, Request, Response
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import text

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
