"""OpenTelemetry traces, opt-in (`<PREFIX>OTEL_TRACES`: "none" by default, "otlp" or "console").

When on, the gateway records a span per request (continuing a client's W3C `traceparent`) and sends its
own `traceparent` on; a service records a span per request (FastAPI; the gateway's span is its parent),
per SQL statement (SQLAlchemy) and per outbox delivery (a POST to a subscriber, which sends `traceparent`
on). Events carry the `traceparent` of the request that published them (the CloudEvents distributed-tracing
extension), so a delivery continues that request's trace when all its events come from one request, and
links to each when they come from several: one order's trace shows its delivery and the subscriber's
handling (the subscriber's request span is the delivery's child).

The OpenTelemetry packages are imported only when tracing is on; the exporter's standard variables apply
(OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_BSP_SCHEDULE_DELAY, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace.export import SpanExporter
    from sqlalchemy.ext.asyncio import AsyncEngine

    from .settings import ServiceSettings

TRACEPARENT = "traceparent"
_HEALTH = "healthz,readyz,metrics"


def current_traceparent() -> str | None:
    """The `traceparent` of the span in progress, when one is being recorded (never without tracing on)."""
    try:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    except ImportError:
        return None
    if not trace.get_current_span().is_recording():
        return None
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get(TRACEPARENT)


class Tracing:
    """One service's tracer provider (not the process-global one: tests run several apps in a process)."""

    def __init__(
        self, service: str, exporter: str, endpoint: str | None, *, span_exporter: SpanExporter | None = None
    ) -> None:
        """`span_exporter`: a test's own (e.g. in-memory), handed each span as it ends, instead of `exporter`."""
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

        self.provider = TracerProvider(resource=Resource.create({"service.name": f"crm-{service}"}))
        if span_exporter is not None:
            self.provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        elif exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            otlp = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
            self.provider.add_span_processor(BatchSpanProcessor(otlp))
        else:
            self.provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        self.tracer = self.provider.get_tracer("crm_shared")

    def instrument_app(self, app: FastAPI) -> None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, tracer_provider=self.provider, excluded_urls=_HEALTH)

    def instrument_asgi(self, app: Any, span_name: Callable[[dict[str, Any]], str]) -> Any:
        """A plain ASGI app (the gateway) wrapped to record a server span per HTTP request, continuing the
        caller's `traceparent`; `span_name(scope)` names it (a route, not a raw path with ids)."""
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        return OpenTelemetryMiddleware(
            app,
            excluded_urls=_HEALTH,
            default_span_details=lambda scope: (span_name(scope), {}),
            tracer_provider=self.provider,
            exclude_spans=["receive", "send"],  # one span per request, not one per ASGI message
        )

    def instrument_engine(self, engine: AsyncEngine) -> None:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        # skip_dep_check: the instrumentation declares SQLAlchemy < 2.1; its engine events are unchanged in 2.1.
        SQLAlchemyInstrumentor().instrument(
            engine=engine.sync_engine, tracer_provider=self.provider, skip_dep_check=True
        )

    @contextmanager
    def delivery_span(self, subscriber: str, events: Iterable[Mapping[str, Any]]) -> Iterator[None]:
        """A span for one delivery: the child of the publishing request when there is one, else linked
        to every publishing request."""
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        propagator = TraceContextTextMapPropagator()
        parents = {e[TRACEPARENT] for e in events if isinstance(e.get(TRACEPARENT), str)}
        contexts = [propagator.extract({TRACEPARENT: p}) for p in sorted(parents)]
        spans = [trace.get_current_span(c).get_span_context() for c in contexts]
        parent = contexts[0] if len({s.trace_id for s in spans}) == 1 else None
        links = [] if parent is not None else [trace.Link(s) for s in spans if s.is_valid]
        name = f"outbox deliver {subscriber}"
        with self.tracer.start_as_current_span(name, context=parent, kind=trace.SpanKind.PRODUCER, links=links):
            yield

    @staticmethod
    def inject(headers: dict[str, str]) -> None:
        """The current span as `traceparent` (and `tracestate`) headers: the receiver continues the trace."""
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        TraceContextTextMapPropagator().inject(headers)

    def shutdown(self) -> None:
        self.provider.shutdown()  # exports what is still buffered


class TraceIdFilter(logging.Filter):
    """Adds the current span's `trace_id` and `span_id` (hex, as trace backends show them; "-" outside a span)
    to each log record: the JSON logs carry them as fields."""

    def __init__(self) -> None:
        super().__init__()
        from opentelemetry import trace

        self._current_span = trace.get_current_span

    def filter(self, record: logging.LogRecord) -> bool:
        context = self._current_span().get_span_context()
        record.trace_id = format(context.trace_id, "032x") if context.is_valid else "-"
        record.span_id = format(context.span_id, "016x") if context.is_valid else "-"
        return True


def start_tracing(settings: ServiceSettings) -> Tracing | None:
    return tracing_for(settings.service_name, settings.otel_traces, settings.otel_endpoint)


def tracing_for(service: str, traces: str, endpoint: str | None) -> Tracing | None:
    """A part's tracing from its OTEL_TRACES ("none": None) and OTEL_ENDPOINT settings."""
    if traces == "none":
        return None
    try:
        return Tracing(service, traces, endpoint)
    except ImportError as exc:
        raise RuntimeError(
            f"OTEL_TRACES={traces} needs opentelemetry-sdk, opentelemetry-exporter-otlp-proto-http, "
            f"opentelemetry-instrumentation-fastapi and opentelemetry-instrumentation-sqlalchemy ({exc})"
        ) from exc


def delivery_span(tracing: Tracing | None, subscriber: str, events: Iterable[Mapping[str, Any]]) -> Any:
    return nullcontext() if tracing is None else tracing.delivery_span(subscriber, events)
