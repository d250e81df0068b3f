"""Everything but /api/: probes, metrics and the merged API docs, on a small FastAPI app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import aiohttp
import orjson
from fastapi import FastAPI, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from crm_shared.errors import install_error_handlers

from .metrics import ProxyMetrics
from .openapi import OpenApiAggregator
from .proxy import Proxy

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def _json(status: int, body: object) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def _service_ready(
    session: aiohttp.ClientSession, base_url: str, deadline: aiohttp.ClientTimeout
) -> dict[str, object]:
    try:
        async with session.get(f"{base_url}/readyz", timeout=deadline) as response:
            await response.read()
            return {"status": "ready" if response.status == 200 else "not ready", "code": response.status}
    except TimeoutError:
        return {"status": "timeout"}
    except (aiohttp.ClientError, OSError) as exc:
        return {"status": "unreachable", "error": type(exc).__name__}


def create_ops_app(
    proxy: Proxy,
    metrics: ProxyMetrics,
    openapi: OpenApiAggregator,
    *,
    readiness_timeout: float,
    lifespan: Lifespan,
) -> FastAPI:
    app = FastAPI(title="CRM gateway", openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)
    install_error_handlers(app)
    ready_timeout = aiohttp.ClientTimeout(total=readiness_timeout)

    def session() -> aiohttp.ClientSession:
        if proxy.session is None:
            raise RuntimeError("the gateway's lifespan has not started")
        return proxy.session

    @app.get("/healthz")
    async def healthz() -> Response:
        return _json(200, {"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> Response:
        if getattr(app.state, "draining", False):
            return _json(503, {"status": "draining", "services": {}})
        upstreams = proxy.routes.upstreams
        results = await asyncio.gather(
            *(_service_ready(session(), u.base_url, ready_timeout) for u in upstreams.values())
        )
        services = dict(zip(upstreams, results, strict=True))
        ready = all(r["status"] == "ready" for r in services.values())
        return _json(200 if ready else 503, {"status": "ready" if ready else "not ready", "services": services})

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json")
    async def openapi_json() -> Response:
        return Response(await openapi.document(session()), media_type="application/json")

    @app.get("/docs")
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Retention CRM API")

    return app
