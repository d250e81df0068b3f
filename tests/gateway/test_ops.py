"""Probes, merged OpenAPI, docs and CORS."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from crm_gateway.main import create_app

from .conftest import ORIGIN, Keys, LiveServer, bearer, settings_for
from .test_auth import assert_problem
from .upstream import scoring_app

pytestmark = pytest.mark.asyncio


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_when_every_service_is_ready(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["services"] == {
        "customer": {"status": "ready", "code": 200},
        "scoring": {"status": "ready", "code": 200},
    }


async def test_readyz_is_503_when_a_service_is_down(degraded_client: httpx.AsyncClient) -> None:
    response = await degraded_client.get("/readyz")
    assert response.status_code == 503
    services = response.json()["services"]
    assert services["customer"]["status"] == "ready"
    assert services["churn"]["status"] == "unreachable"


def _resolve(doc: dict, ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


async def test_merged_openapi(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert set(doc["paths"]) == {"/api/v1/customers/{customer_id}/card", "/api/v1/scores/{customer_id}/latest"}
    schemas = doc["components"]["schemas"]
    # Identical models are shared; the two different "Problem" models both survive.
    assert {"Customer", "Score", "Money", "Problem", "ScoringProblem"} <= set(schemas)
    assert set(schemas["ScoringProblem"]["properties"]) == {"detail", "code"}
    assert set(schemas["Problem"]["properties"]) == {"detail"}
    refs = _refs(doc)
    assert refs
    for ref in refs:
        _resolve(doc, ref)
    score_get = doc["paths"]["/api/v1/scores/{customer_id}/latest"]["get"]
    assert score_get["responses"]["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/ScoringProblem")
    assert set(doc["components"]["securitySchemes"]) == {"BearerAuth", "ApiKeyHeader"}
    assert doc["components"]["securitySchemes"]["ApiKeyHeader"]["name"] == "X-API-Key"
    assert doc["security"] == [{"BearerAuth": []}, {"ApiKeyHeader": []}]


async def test_openapi_is_refetched_after_a_service_was_down(upstreams: dict[str, LiveServer], keys: Keys) -> None:
    late = LiveServer(scoring_app())  # its port is picked now; nothing listens on it yet
    services = {"customer": upstreams["customer"].url, "scoring": late.url}
    gateway = await LiveServer(create_app(settings_for(services, keys))).start()
    try:
        async with httpx.AsyncClient(base_url=gateway.url) as c:
            first = (await c.get("/openapi.json")).json()
            assert "/api/v1/scores/{customer_id}/latest" not in first["paths"]
            assert "scoring" in first["info"]["description"]
            await late.start()
            second = (await c.get("/openapi.json")).json()
            assert "/api/v1/scores/{customer_id}/latest" in second["paths"]
            assert "/api/v1/customers/{customer_id}/card" in second["paths"]
    finally:
        await gateway.stop()
        await late.stop()


async def test_docs_page_points_at_the_merged_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert "swagger-ui" in response.text
    assert "/openapi.json" in response.text


async def test_unknown_non_api_path_is_a_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/nothing-here"), 404)


async def test_cors_preflight(client: httpx.AsyncClient) -> None:
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    response = await client.options("/api/v1/customers", headers=preflight)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "Authorization" in response.headers["access-control-allow-headers"]
    assert "X-API-Key" in response.headers["access-control-allow-headers"]

    refused = await client.options("/api/v1/customers", headers={**preflight, "Origin": "https://evil.example"})
    assert_problem(refused, 403)
    assert "access-control-allow-origin" not in refused.headers


async def test_cors_headers_on_actual_responses(client: httpx.AsyncClient, keys: Keys) -> None:
    ok = await client.get("/api/v1/customers/1", headers={**bearer(keys.full), "Origin": ORIGIN})
    assert ok.headers["access-control-allow-origin"] == ORIGIN
    assert "X-Request-ID" in ok.headers["access-control-expose-headers"]
    assert "Origin" in ok.headers["vary"]
    # Errors too, so a browser can read the problem.
    denied = await client.get("/api/v1/customers/1", headers={"Origin": ORIGIN})
    assert denied.status_code == 401
    assert denied.headers["access-control-allow-origin"] == ORIGIN
    # And the non-API endpoints.
    assert (await client.get("/healthz", headers={"Origin": ORIGIN})).headers["access-control-allow-origin"] == ORIGIN
    other = await client.get("/api/v1/customers/1", headers={**bearer(keys.full), "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
