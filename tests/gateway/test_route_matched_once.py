"""With tracing on, the gateway matches a request's route once (issue 13): the span is named before the proxy
runs, and the proxy reuses that match (RouteTable.match_request) instead of matching the path again. The span
names and the gateway's own metrics labels stay as they were; without tracing the proxy still matches once."""

from __future__ import annotations

import re

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from crm_gateway.main import create_app
from crm_gateway.routes import RouteTable
from crm_shared.tracing import Tracing

from .conftest import Keys, LiveServer, bearer, settings_for


@pytest.fixture
def matches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path RouteTable.match is asked about."""
    seen: list[str] = []
    match = RouteTable.match

    def counting(self: RouteTable, path: str):  # type: ignore[no-untyped-def]
        seen.append(path)
        return match(self, path)

    monkeypatch.setattr(RouteTable, "match", counting)
    return seen


def _count(metrics: str, route: str, status: int) -> float:
    found = re.search(rf'gateway_requests_total{{route="{re.escape(route)}",status="{status}"}} (\S+)', metrics)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("traced", [True, False])
async def test_a_request_is_matched_once(upstreams: dict[str, LiveServer], keys: Keys, matches, traced) -> None:
    spans = InMemorySpanExporter()
    tracing = Tracing("gateway", "none", None, span_exporter=spans) if traced else None
    services = {name: server.url for name, server in upstreams.items()}
    server = await LiveServer(create_app(settings_for(services, keys), tracing=tracing)).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            matches.clear()
            assert (await http.get("/api/v1/customers/7", headers=bearer(keys.full))).status_code == 200
            assert (await http.get("/api/v1/nowhere/7", headers=bearer(keys.full))).status_code == 404
            assert matches == ["/api/v1/customers/7", "/api/v1/nowhere/7"]  # once each
            metrics = (await http.get("/metrics")).text
    finally:
        await server.stop()
    assert _count(metrics, "/api/v1/customers", 200) == 1
    assert _count(metrics, "unmatched", 404) == 1
    if traced:
        assert [s.name for s in spans.get_finished_spans()] == ["GET /api/v1/customers", "GET unmatched"]
