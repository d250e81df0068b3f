"""Gateway traces (GATEWAY_OTEL_TRACES, off by default), with the in-memory span exporter: one server span per
proxied request, named by method and route, continuing the client's W3C `traceparent`; the service receives
the gateway span's own `traceparent`, so the service's span is its child. Probes and scrapes make no span."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from crm_gateway.main import create_app
from crm_shared.tracing import Tracing

from .conftest import Keys, LiveServer, bearer, settings_for

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"


@pytest.fixture
async def traced(upstreams: dict[str, LiveServer], keys: Keys) -> AsyncIterator[tuple[str, InMemorySpanExporter]]:
    spans = InMemorySpanExporter()
    tracing = Tracing("gateway", "none", None, span_exporter=spans)
    services = {name: server.url for name, server in upstreams.items()}
    server = await LiveServer(create_app(settings_for(services, keys), tracing=tracing)).start()
    try:
        yield server.url, spans
    finally:
        await server.stop()


async def test_a_proxied_request_is_a_span_whose_traceparent_the_service_receives(
    traced: tuple[str, InMemorySpanExporter], keys: Keys
) -> None:
    url, spans = traced
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        echo = await http.get(
            "/api/v1/customers/7", headers={**bearer(keys.full), "traceparent": TRACEPARENT, "tracestate": "x=1"}
        )
        assert echo.status_code == 200, echo.text
        for probe in ("/healthz", "/readyz", "/metrics"):
            await http.get(probe)
    [span] = spans.get_finished_spans()
    assert span.name == "GET /api/v1/customers"  # the route, not the path with its id
    assert span.kind == SpanKind.SERVER
    assert span.resource.attributes["service.name"] == "crm-gateway"
    assert span.context is not None
    assert span.parent is not None
    assert f"{span.context.trace_id:032x}" == TRACE_ID  # the client's trace goes on...
    assert f"{span.parent.span_id:016x}" == CLIENT_SPAN  # ...with the gateway's span as the client span's child
    forwarded = echo.json()["headers"]
    _, trace_id, parent_id, _ = forwarded["traceparent"].split("-")
    assert trace_id == TRACE_ID
    assert parent_id == f"{span.context.span_id:016x}"  # the service's span will be the gateway span's child
    assert forwarded["tracestate"] == "x=1"  # the vendors' trace state carries on with it


async def test_a_request_without_traceparent_starts_a_trace(
    traced: tuple[str, InMemorySpanExporter], keys: Keys
) -> None:
    url, spans = traced
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        echo = await http.post("/api/v1/scores/recompute", headers=bearer(keys.full), json={})
        refused = await http.get("/api/v1/customers/7")  # no credentials: 401, still one span
        unknown = await http.get("/api/v1/nothing-here", headers=bearer(keys.full))
    assert (echo.status_code, refused.status_code, unknown.status_code) == (200, 401, 404)
    finished = {s.name: s for s in spans.get_finished_spans()}
    assert set(finished) == {"POST /api/v1/scores", "GET /api/v1/customers", "GET unmatched"}
    root = finished["POST /api/v1/scores"]
    assert root.parent is None
    assert root.context is not None
    assert echo.json()["headers"]["traceparent"].split("-")[1] == f"{root.context.trace_id:032x}"


async def test_without_tracing_the_clients_traceparent_passes_unchanged(client: httpx.AsyncClient, keys: Keys) -> None:
    echo = await client.get("/api/v1/customers/7", headers={**bearer(keys.full), "traceparent": TRACEPARENT})
    assert echo.status_code == 200, echo.text
    assert echo.json()["headers"]["traceparent"] == TRACEPARENT
