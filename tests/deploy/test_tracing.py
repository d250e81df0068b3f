"""OpenTelemetry traces, opt-in: one order pushed with a W3C traceparent is one trace across the customer
service (request, SQL), its outbox delivery and the scoring service's handling of the event, exported over
OTLP/HTTP to a collector (here the test's own receiver). Off by default: events then carry no traceparent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from crm_customer.main import SERVICE_DIR as CUSTOMER_DIR
from crm_customer.main import create_app
from crm_scoring.main import SERVICE_DIR as SCORING_DIR
from crm_shared.embedded_pg import asyncpg_dsn
from crm_shared.testing import DatabaseFactory, ServerProcess, app_client, eventually, partner_headers
from tests.deploy.http_sink import sink

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
READ_TRACE_ID = "5bf92f3577b34da6a3ce929d0e0e4737"
HEADERS = partner_headers("shop-1", "orders:write", "orders:read", "customers:write", "customers:read")
ORDER = {
    "external_id": "SO-1",
    "customer": {"external_id": "C-1", "first_name": "Ana"},
    "ordered_at": "2026-11-20T10:15:00Z",
    "currency": "EUR",
    "amount": "59.90",
}


@pytest.fixture
async def collector() -> AsyncIterator[tuple[str, list[tuple[str, str, str, int]]]]:
    """An OTLP/HTTP receiver keeping (service, span name, trace id, kind) of every exported span."""
    spans: list[tuple[str, str, str, int]] = []

    async def export(request: web.Request) -> web.Response:
        batch = ExportTraceServiceRequest.FromString(await request.read())
        for resource in batch.resource_spans:
            service = next(a.value.string_value for a in resource.resource.attributes if a.key == "service.name")
            for scope in resource.scope_spans:
                spans.extend((service, s.name, s.trace_id.hex(), s.kind) for s in scope.spans)
        return web.Response(body=b"", content_type="application/x-protobuf")

    async with sink("/v1/traces", export) as url:
        yield url, spans


async def test_one_order_is_one_trace_across_both_services(
    databases: DatabaseFactory, collector: tuple[str, list[tuple[str, str, str, int]]]
) -> None:
    endpoint, spans = collector
    otel = {"OTEL_BSP_SCHEDULE_DELAY": "100"}
    scoring = ServerProcess(
        "crm_scoring.main:create_app",
        {
            **otel,
            "SCORING_DATABASE_URL": await databases.fresh(SCORING_DIR),
            "SCORING_OTEL_TRACES": "otlp",
            "SCORING_OTEL_ENDPOINT": endpoint,
        },
    )
    subscribers = [{"name": "scoring", "url": f"{scoring.url}/internal/events", "types": ["order.*"]}]
    customer = ServerProcess(
        "crm_customer.main:create_app",
        {
            **otel,
            "CUSTOMER_DATABASE_URL": await databases.fresh(CUSTOMER_DIR),
            "CUSTOMER_OTEL_TRACES": "otlp",
            "CUSTOMER_OTEL_ENDPOINT": endpoint,
            "CUSTOMER_SUBSCRIBERS": json.dumps(subscribers),
        },
    )
    with scoring, customer:
        scoring.wait_ready()
        customer.wait_ready()
        async with httpx.AsyncClient(base_url=customer.url, headers=HEADERS) as http:
            r = await http.post(
                "/api/v1/orders",
                json=ORDER,
                headers={"Idempotency-Key": "trace-1", "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
            )
            assert r.status_code == 201, r.text
            r = await http.get("/api/v1/customers", headers={"traceparent": f"00-{READ_TRACE_ID}-00f067aa0ba902b8-01"})
            assert r.status_code == 200, r.text

        def in_trace(service: str, trace_id: str = TRACE_ID) -> set[str]:
            return {name for s, name, trace, _ in spans if s == service and trace == trace_id}

        async def handled_by_scoring() -> bool:  # both ends exported (each service exports on its own)
            delivered = "outbox deliver scoring" in in_trace("crm-customer")
            return delivered and "POST /internal/events" in in_trace("crm-scoring")

        await eventually(handled_by_scoring, within=20)
    customer_spans, scoring_spans = in_trace("crm-customer"), in_trace("crm-scoring")
    assert "POST /api/v1/orders" in customer_spans, customer_spans
    assert "outbox deliver scoring" in customer_spans  # the delivery continues the order's trace...
    assert "POST /internal/events" in scoring_spans, scoring_spans  # ...and so does scoring's handling
    # Statements sent through SQLAlchemy are spans of the request (the bulk paths' raw asyncpg ones not).
    assert any(name.startswith("SELECT") for name in in_trace("crm-customer", READ_TRACE_ID)), spans
    # Probes and metrics scrapes make no spans.
    assert not any("readyz" in name for _, name, _, _ in spans)


async def test_without_tracing_events_carry_no_traceparent(settings) -> None:  # type: ignore[no-untyped-def]
    async with app_client(create_app(settings), headers=HEADERS) as http:
        r = await http.post(
            "/api/v1/orders",
            json=ORDER,
            headers={"Idempotency-Key": "untraced", "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
        )
        assert r.status_code == 201, r.text
    conn = await asyncpg.connect(asyncpg_dsn(settings.async_database_url))
    try:
        stored = await conn.fetch("SELECT events FROM outbox_messages")
    finally:
        await conn.close()
    assert stored
    assert all(b"traceparent" not in row["events"] for row in stored)
