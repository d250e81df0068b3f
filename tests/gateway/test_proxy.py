"""The proxy: routing, headers in and out, request ids, streaming, upstream failures, rate limits."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from .conftest import UPSTREAM_TIMEOUT, Keys, LiveServer, bearer, principal_seen
from .test_auth import assert_problem
from .upstream import DOWNLOAD_CHUNK, DOWNLOAD_CHUNKS

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/v1/customers", "customer"),
        ("/api/v1/customers/42/complaints", "customer"),
        ("/api/v1/orders/batch", "customer"),
        ("/api/v1/scores/recompute", "scoring"),
    ],
)
async def test_routes_by_longest_prefix(client: httpx.AsyncClient, keys: Keys, path: str, service: str) -> None:
    response = await client.get(path, headers=bearer(keys.full))
    assert response.status_code == 200, response.text
    echoed = response.json()
    assert echoed["service"] == service
    assert echoed["path"] == path


async def test_path_and_query_are_forwarded_unchanged(client: httpx.AsyncClient, keys: Keys) -> None:
    url = "/api/v1/customers/a%20b%2Fc?q=x%2Fy&z=%C3%A9&z=2"
    response = await client.get(url, headers=bearer(keys.full))
    echoed = response.json()
    assert echoed["raw_path"] == "/api/v1/customers/a%20b%2Fc"
    assert echoed["query"] == "q=x%2Fy&z=%C3%A9&z=2"


@pytest.mark.parametrize("path", ["/api/v1/customersX", "/api/v2/customers", "/api/v1", "/api/unknown/thing"])
async def test_unknown_paths_are_404_problems(client: httpx.AsyncClient, keys: Keys, path: str) -> None:
    response = await client.get(path, headers=bearer(keys.full))
    assert_problem(response, 404)
    assert len(response.headers["x-request-id"]) == 32


async def test_dot_segments_are_rejected(gateway: LiveServer, keys: Keys) -> None:
    # httpx would normalise the path, so speak HTTP/1.1 directly.
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(
        b"GET /api/v1/customers/../scores/1 HTTP/1.1\r\nHost: gw\r\n"
        + f"Authorization: Bearer {keys.full}\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    raw = await reader.read()
    writer.close()
    assert raw.startswith(b"HTTP/1.1 400 ")
    assert b"application/problem+json" in raw


async def test_principal_headers_come_from_the_credential_only(client: httpx.AsyncClient, keys: Keys) -> None:
    spoofed = {
        "X-CRM-Client-Id": "admin",
        "X-CRM-Client-Kind": "user",
        "X-CRM-Scopes": "customers:write orders:write",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "6.6.6.6",
        "Connection": "keep-alive, X-Hop",
        "X-Hop": "private",
        "Keep-Alive": "timeout=5",
    }
    response = await client.get("/api/v1/customers/1", headers={**bearer(keys.reader), **spoofed})
    seen = response.json()["headers"]
    principal = principal_seen(response.json())
    assert (principal.client_id, principal.kind, principal.scopes) == ("partner-reader", "partner", {"customers:read"})
    # Credentials and hop-by-hop headers stop at the gateway; X-Forwarded-* are its own view.
    for name in ("authorization", "x-api-key", "x-hop", "keep-alive"):
        assert name not in seen
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == client.base_url.netloc.decode()


async def test_request_id_is_propagated_both_ways(client: httpx.AsyncClient, keys: Keys) -> None:
    given = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    response = await client.get("/api/v1/customers/1", headers={**bearer(keys.full), "X-Request-ID": given})
    assert response.headers.get_list("x-request-id") == [given]  # the upstream's own copy is dropped
    assert response.json()["headers"]["x-request-id"] == given
    assert response.headers["x-upstream"] == "customer"  # other upstream headers pass through


@pytest.mark.parametrize("given", [None, "not-a-uuid", "x" * 300])
async def test_request_id_is_generated_when_absent_or_invalid(
    client: httpx.AsyncClient, keys: Keys, given: str | None
) -> None:
    headers = bearer(keys.full) | ({"X-Request-ID": given} if given else {})
    response = await client.get("/api/v1/customers/1", headers=headers)
    generated = response.headers["x-request-id"]
    assert len(generated) == 32
    assert int(generated, 16) >= 0
    assert response.json()["headers"]["x-request-id"] == generated
    # Error responses carry one too.
    assert len((await client.get("/api/v1/customers/1")).headers["x-request-id"]) == 32


async def test_single_date_and_server_headers(client: httpx.AsyncClient, keys: Keys) -> None:
    response = await client.get("/api/v1/customers/1", headers=bearer(keys.full))
    assert len(response.headers.get_list("date")) == 1
    assert len(response.headers.get_list("server")) <= 1


async def test_redirects_are_passed_through_not_followed(client: httpx.AsyncClient, keys: Keys) -> None:
    response = await client.get("/api/v1/orders/redirect", headers=bearer(keys.full))
    assert response.status_code == 303
    assert response.headers["location"] == "/api/v1/orders/elsewhere"


async def test_head_is_a_read(client: httpx.AsyncClient, keys: Keys) -> None:
    response = await client.head("/api/v1/customers/1", headers=bearer(keys.reader))
    assert response.status_code == 200
    assert response.content == b""


async def test_upstream_timeout_is_504(client: httpx.AsyncClient, keys: Keys) -> None:
    started = time.monotonic()
    response = await client.get("/api/v1/customers/slow/3", headers=bearer(keys.full))
    elapsed = time.monotonic() - started
    body = assert_problem(response, 504)
    assert "customer" in body["detail"]
    assert UPSTREAM_TIMEOUT <= elapsed < UPSTREAM_TIMEOUT + 1.5


async def test_upstream_down_is_502(degraded_client: httpx.AsyncClient, keys: Keys) -> None:
    response = await degraded_client.get("/api/v1/churn/rate", headers=bearer(keys.full))
    body = assert_problem(response, 502)
    assert "churn" in body["detail"]
    assert len(response.headers["x-request-id"]) == 32


async def test_big_request_body_streams_up_intact(client: httpx.AsyncClient, keys: Keys) -> None:
    payload = os.urandom(2 * 1024 * 1024 + 17)
    digest = hashlib.sha256(payload).hexdigest()

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(payload), 65536):
            yield payload[i : i + 65536]

    # Chunked (no Content-Length) and sized uploads.
    for content in (chunks(), payload):
        response = await client.post(
            "/api/v1/orders/batch",
            content=content,
            headers={**bearer(keys.full), "Content-Type": "application/x-ndjson"},
        )
        echoed = response.json()
        assert echoed["body_length"] == len(payload)
        assert echoed["body_sha256"] == digest
        assert echoed["headers"]["content-type"] == "application/x-ndjson"


async def test_big_response_body_streams_down_intact(client: httpx.AsyncClient, keys: Keys) -> None:
    expected = DOWNLOAD_CHUNK * DOWNLOAD_CHUNKS
    async with client.stream("GET", "/api/v1/orders/export", headers=bearer(keys.full)) as response:
        assert response.status_code == 200
        assert response.headers.get("transfer-encoding") == "chunked"
        received = [chunk async for chunk in response.aiter_raw()]
    body = b"".join(received)
    assert len(body) == len(expected)
    assert hashlib.sha256(body).digest() == hashlib.sha256(expected).digest()
    assert len(received) > 1  # it arrived in pieces, not as one buffered blob


async def test_rate_limit_is_429_with_retry_after(degraded_client: httpx.AsyncClient, keys: Keys) -> None:
    statuses = [
        (await degraded_client.get("/api/v1/customers/1", headers=bearer(keys.limited))).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 200]
    response = await degraded_client.get("/api/v1/customers/1", headers=bearer(keys.limited))
    body = assert_problem(response, 429)
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert "3/minute" in body["detail"]
    # The budget is per client: another key still gets through.
    assert (await degraded_client.get("/api/v1/customers/1", headers=bearer(keys.reader))).status_code == 200


async def test_metrics_count_proxied_requests(client: httpx.AsyncClient, keys: Keys) -> None:
    await client.get("/api/v1/scores/1", headers=bearer(keys.full))
    await client.get("/api/v1/scores/1")
    text = (await client.get("/metrics")).text
    assert 'gateway_requests_total{route="/api/v1/scores",status="200"}' in text
    assert 'gateway_requests_total{route="/api/v1/scores",status="401"}' in text
    assert 'gateway_request_duration_seconds_count{route="/api/v1/scores",status="200"}' in text
