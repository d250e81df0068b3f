"""create_service_app(): the one FastAPI factory every service uses, so they all share the same
lifespan (engine, sessions, outbox relay), error handling, logging, metrics and probes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from prometheus_fastapi_instrumentator import Instrumentator

from .access import PrincipalMiddleware, api_routes, document_access, enforce_declared_access
from .audit_api import audit_router
from .auth import PrincipalTokens
from .db import EarlyAnswer, answer_early, create_engine, create_read_sessionmaker, create_sessionmaker
from .dead_letters_api import dead_letters_router
from .delivery_api import delivery_router
from .errors import document_problems, install_error_handlers
from .event_metrics import DatabaseGauge
from .event_metrics import refresh as refresh_event_metrics
from .housekeeping import Housekeeper, Retention
from .idempotency import document_idempotency
from .inbox import EventHandler, events_router
from .input_guard import InputGuardMiddleware
from .migrations import head_revision, known_revisions
from .observability import REQUEST_ID_HEADER, RouteMetricsMiddleware, configure_logging, health_router
from .outbox import OutboxRelay
from .settings import ServiceSettings
from .shutdown import GracefulShutdown
from .topology import SERVICES
from .tracing import start_tracing

METRICS_EXCLUDED = ["/metrics", "/healthz", "/readyz"]


def create_service_app(
    *,
    settings: ServiceSettings,
    title: str,
    description: str,
    service_dir: Path | None,
    routers: Sequence[APIRouter] = (),
    event_handlers: Mapping[str, EventHandler] | None = None,
    extra_schemas: Mapping[str, Any] | None = None,
    database_gauges: Sequence[DatabaseGauge] = (),
    version: str = "0.1.0",
) -> FastAPI:
    """Build a service. `service_dir` holds alembic.ini; None for a part without a database yet."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(
            settings.service_name,
            level=settings.log_level,
            json=settings.log_json,
            access_log=settings.access_log,
            trace_ids=settings.otel_traces != "none",
        )
        app.state.settings = settings
        app.state.database_gauges = tuple(database_gauges)
        app.state.draining = False
        app.state.relay_wakeup = lambda: None
        if settings.openapi_prebuild:  # before the first request (settings.py says why)
            app.openapi()
        relay = None
        if service_dir is not None:
            engine = create_engine(
                settings.async_database_url,
                application_name=settings.service_name,
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                lock_timeout_ms=settings.db_lock_timeout_ms,
            )
            app.state.engine = engine
            if tracing is not None:
                tracing.instrument_engine(engine)
            app.state.sessionmaker = create_sessionmaker(engine, subscriptions=settings.subscribers)
            app.state.read_sessionmaker = create_read_sessionmaker(engine)
            app.state.head_revision = head_revision(service_dir)
            app.state.known_revisions = known_revisions(service_dir)
            if settings.outbox_enabled and settings.subscribers:
                relay = OutboxRelay(
                    engine,
                    source=f"/services/{settings.service_name}",
                    subscriptions=settings.subscribers,
                    secret=settings.event_secret.get_secret_value(),
                    batch_size=settings.outbox_batch_size,
                    poll_seconds=settings.outbox_poll_seconds,
                    max_attempts=settings.outbox_max_attempts,
                    delivery_timeout=settings.outbox_delivery_timeout,
                    backoff_base=settings.outbox_backoff_base,
                    backoff_cap=settings.outbox_backoff_cap_seconds,
                    give_up_after=timedelta(hours=settings.outbox_give_up_after_hours),
                    tracing=tracing,
                )
                await relay.start()
                app.state.relay_wakeup = relay.wake
        app.state.relay = relay
        housekeeper = None
        if service_dir is not None:
            retention = Retention(settings.outbox_retention_days, settings.inbox_retention_days)
            housekeeper = Housekeeper(app.state.engine, retention, settings.housekeeping_interval_seconds)
            housekeeper.start()

        def drain() -> None:
            app.state.draining = True
            if relay is not None:
                relay.stop_claiming()

        shutdown = GracefulShutdown(drain, delay=settings.shutdown_delay_seconds)
        shutdown.install()
        try:
            yield
        finally:
            shutdown.uninstall()
            drain()
            if housekeeper is not None:
                await housekeeper.stop()
            if relay is not None:
                await relay.stop()
            if service_dir is not None:
                await app.state.engine.dispose()
            if tracing is not None:
                tracing.shutdown()

    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    app.state.settings = settings
    tracing = start_tracing(settings)  # off unless configured
    if tracing is not None:
        tracing.instrument_app(app)
    install_error_handlers(app)
    app.add_exception_handler(EarlyAnswer, answer_early)
    # Inside the request id and the metrics (its 4xx are counted and traceable), outside every route. It
    # looks routes up only on a slow path; the list is filled once the routers are included below.
    guarded_routes: list[APIRoute] = []
    app.add_middleware(
        InputGuardMiddleware,
        routes=guarded_routes,
        max_body_bytes=settings.max_body_bytes,
        max_other_body_bytes=settings.max_event_body_bytes,
    )
    app.add_middleware(CorrelationIdMiddleware, header_name=REQUEST_ID_HEADER)
    # Request metrics by route template, named from the route the router matched (observability.py). The event
    # gauges (outbox backlog, dead letters) are read from the database at each scrape.
    app.add_middleware(RouteMetricsMiddleware, excluded_handlers=METRICS_EXCLUDED)
    Instrumentator().expose(app, include_in_schema=False, dependencies=[Depends(refresh_event_metrics)])
    app.include_router(health_router())
    routers = [*_admin_routers(settings, service_dir, event_handlers), *routers]
    for router in routers:
        app.include_router(router)
    if event_handlers is not None:
        app.include_router(events_router(event_handlers))
    routes = api_routes(routers)
    enforce_declared_access(routes)
    guarded_routes.extend(routes)
    # Outermost: an /api/ call without a valid principal token is refused before anything else runs.
    tokens = PrincipalTokens(settings.principal_key_values, issuer=settings.service_name)
    app.state.principal_tokens = tokens
    app.add_middleware(PrincipalMiddleware, tokens=tokens, audience=settings.service_name)
    _customize_openapi(app, routes, extra_schemas or {})
    return app


def _admin_routers(
    settings: ServiceSettings, service_dir: Path | None, event_handlers: Mapping[str, EventHandler] | None
) -> list[APIRouter]:
    """The audit log query, the delivery backlog of its events and, in a service that consumes events, its
    dead letters, under the first
    prefix the gateway routes to this service, behind that prefix's scopes (what the gateway checks) and
    an admin-only one. First among the routers, so that no `{prefix}/{param}` route can take `/audit` or
    `/dead-letters`."""
    part = SERVICES.get(settings.service_name)
    if service_dir is None or part is None or not part.prefixes:
        return []  # no database, or a part the gateway routes nothing to: nothing to serve
    prefix = part.prefixes[0]
    family = prefix.rstrip("/").rsplit("/", 1)[-1]
    routers = [audit_router(prefix, f"{family}:read"), delivery_router(prefix, f"{family}:read")]
    if event_handlers is not None:
        routers.append(dead_letters_router(prefix, family, event_handlers))
    return routers


def _customize_openapi(app: FastAPI, routes: Sequence[APIRoute], schemas: Mapping[str, Any]) -> None:
    """Document the problem+json errors every route can send and the Idempotency-Key every write needs,
    and publish the component schemas of bodies decoded outside pydantic (msgspec hot paths)."""
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = document_idempotency(document_access(routes, document_problems(base_openapi())))
            spec["components"]["schemas"].update(schemas)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
