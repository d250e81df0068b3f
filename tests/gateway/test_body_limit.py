"""Request bodies over the gateway's limit are refused with 413 before they reach a service, whether
their length is declared or they arrive chunked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from crm_gateway.main import create_app

from .conftest import Keys, LiveServer, bearer, settings_for
from .test_auth import assert_problem

pytestmark = pytest.mark.asyncio
LIMIT = 1024


@pytest.fixture
async def small_gateway(upstreams: dict[str, LiveServer], keys: Keys) -> AsyncIterator[httpx.AsyncClient]:
    services = {name: server.url for name, server in upstreams.items()}
    gateway = await LiveServer(create_app(settings_for(services, keys, max_body_bytes=LIMIT))).start()
    async with httpx.AsyncClient(base_url=gateway.url, headers=bearer(keys.full), timeout=10) as client:
        yield client
    await gateway.stop()


async def test_a_declared_length_over_the_limit_is_413(small_gateway: httpx.AsyncClient) -> None:
    ok = await small_gateway.post("/api/v1/orders", content=b"x" * LIMIT)
    assert ok.status_code == 200
    assert ok.json()["body_length"] == LIMIT
    assert_problem(await small_gateway.post("/api/v1/orders", content=b"x" * (LIMIT + 1)), 413)


async def test_a_chunked_body_over_the_limit_is_413(small_gateway: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"y" * 400

    assert_problem(await small_gateway.post("/api/v1/orders", content=chunks()), 413)
