"""OpenTelemetry traces, opt-in: one order pushed through the gateway with a W3C traceparent is one trace
across the gateway (its span the customer request's parent), the customer service (request, SQL), its outbox
delivery and the scoring service's handling of the event, each real process exporting over OTLP/HTTP to a
collector (here the test's own receiver). Off by default: events then carry no traceparent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import NamedTuple

import asyncpg
import httpx
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from crm_customer.main import SERVICE_DIR as CUSTOMER_DIR
from crm_customer.main import create_app
from crm_scoring.main import SERVICE_DIR as SCORING_DIR
from crm_shared.auth import generate_api_key
from crm_shared.embedded_pg import asyncpg_dsn
from crm_shared.launcher import PARTNER_SCOPES
from crm_shared.testing import DatabaseFactory, ServerProcess, app_client, eventually, partner_headers
from tests.deploy.http_sink import sink

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
READ_TRACE_ID = "5bf92f3577b34da6a3ce929d0e0e4737"
CLIENT_SPAN = "00f067aa0ba902b7"
HEADERS = partner_headers("shop-1", "orders:write", "orders:read", "customers:write", "customers:read")
ORDER = {
    "external_id": "SO-1",
    "customer": {"external_id": "C-1", "first_name": "Ana"},
    "ordered_at": "2026-11-20T10:15:00Z",
    "currency": "EUR",
    "amount": "59.90",
}


class Span(NamedTuple):
    service: str
    name: str
    trace_id: str
    kind: int
    span_id: str
    parent_id: str  # empty for a trace's root


@pytest.fixture
async def collector() -> AsyncIterator[tuple[str, list[Span]]]:
    """An OTLP/HTTP receiver keeping every exported span."""
    spans: list[Span] = []

    async def export(request: web.Request) -> web.Response:
        batch = ExportTraceServiceRequest.FromString(await request.read())
        for resource in batch.resource_spans:
            service = next(a.value.string_value for a in resource.resource.attributes if a.key == "service.name")
            for scope in resource.scope_spans:
                spans.extend(
                    Span(service, s.name, s.trace_id.hex(), s.kind, s.span_id.hex(), s.parent_span_id.hex())
                    for s in scope.spans
                )
        return web.Response(body=b"", content_type="application/x-protobuf")

    async with sink("/v1/traces", export) as url:
        yield url, spans


async def test_one_order_is_one_trace_from_the_gateway_to_the_consumer(
    databases: DatabaseFactory, collector: tuple[str, list[Span]]
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
    key, key_id, hashed = generate_api_key()
    gateway = ServerProcess(
        "crm_gateway.main:create_app",
        {
            **otel,
            "GATEWAY_SERVICES": json.dumps({"customer": customer.url, "scoring": scoring.url}),
            "GATEWAY_API_KEYS": json.dumps(
                [{"id": key_id, "hash": hashed, "client_id": "shop-1", "scopes": list(PARTNER_SCOPES)}]
            ),
            "GATEWAY_JWT_SECRET": "tracing-test-jwt-secret-long-enough-for-hs256",
            "GATEWAY_OTEL_TRACES": "otlp",
            "GATEWAY_OTEL_ENDPOINT": endpoint,
            "GATEWAY_LOG_LEVEL": "WARNING",
        },
    )
    with scoring, customer, gateway:
        # Three processes start at once: on a busy 2-core machine that can take longer than the default 30 s.
        scoring.wait_ready(timeout=90)
        customer.wait_ready(timeout=90)
        gateway.wait_ready("/healthz", timeout=90)
        async with httpx.AsyncClient(base_url=gateway.url, headers={"Authorization": f"Bearer {key}"}) as http:
            r = await http.post(
                "/api/v1/orders",
                json=ORDER,
                headers={"Idempotency-Key": "trace-1", "traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"},
            )
            assert r.status_code == 201, r.text
            r = await http.get("/api/v1/customers", headers={"traceparent": f"00-{READ_TRACE_ID}-00f067aa0ba902b8-01"})
            assert r.status_code == 200, r.text

        def in_trace(service: str, trace_id: str = TRACE_ID) -> dict[str, Span]:
            return {s.name: s for s in spans if s.service == service and s.trace_id == trace_id}

        async def all_exported() -> bool:  # every part exports on its own schedule
            return (
                "outbox deliver scoring" in in_trace("crm-customer")
                and "POST /internal/events" in in_trace("crm-scoring")
                and "POST /api/v1/orders" in in_trace("crm-gateway")
                and "GET /api/v1/customers" in in_trace("crm-gateway", READ_TRACE_ID)
            )

        await eventually(all_exported, within=20)
    gateway_spans, customer_spans = in_trace("crm-gateway"), in_trace("crm-customer")
    scoring_spans = in_trace("crm-scoring")
    # The gateway's span is the client span's child and the customer request's parent...
    assert gateway_spans["POST /api/v1/orders"].parent_id == CLIENT_SPAN, gateway_spans
    assert customer_spans["POST /api/v1/orders"].parent_id == gateway_spans["POST /api/v1/orders"].span_id
    # ...whose SQL (through SQLAlchemy) is in the same trace...
    assert any(name.startswith(("SELECT", "INSERT")) for name in customer_spans), customer_spans
    # ...and so are the outbox delivery and scoring's handling of the event (the delivery's child).
    delivery = customer_spans["outbox deliver scoring"]
    assert scoring_spans["POST /internal/events"].parent_id == delivery.span_id, scoring_spans
    assert any(name.startswith(("SELECT", "INSERT")) for name in scoring_spans), scoring_spans
    # A read through the gateway is a trace of its own, with its statements.
    assert "GET /api/v1/customers" in in_trace("crm-gateway", READ_TRACE_ID)
    assert any(name.startswith("SELECT") for name in in_trace("crm-customer", READ_TRACE_ID)), spans
    # Probes and metrics scrapes make no spans.
    assert not any("readyz" in s.name or "healthz" in s.name for s in spans)


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
