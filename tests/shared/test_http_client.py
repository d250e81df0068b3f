"""The inter-service HTTP client, against a real server process: retries only where safe,
timeouts become 504 and unreachable upstreams 502."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response

from crm_shared.errors import BadGateway, GatewayTimeout
from crm_shared.http import ServiceClient
from crm_shared.testing import free_port

calls: dict[str, int] = {}


def flaky_app() -> FastAPI:
    app = FastAPI()

    @app.api_route("/flaky/{name}", methods=["GET", "POST"])
    async def flaky(name: str, request: Request) -> Response:
        calls[name] = calls.get(name, 0) + 1
        return Response(status_code=503 if calls[name] < 3 else 200)

    @app.get("/slow")
    async def slow() -> Response:
        await asyncio.sleep(2)
        return Response(status_code=200)

    return app


@pytest.fixture
async def upstream():
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(flaky_app(), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn.Server offers a flag, not an event
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def test_idempotent_calls_are_retried(upstream):
    client = ServiceClient(upstream, attempts=4, retry_timeout=10)
    try:
        r = await client.get("/flaky/get")
        assert r.status_code == 200
        assert calls["get"] == 3
        once = await client.post("/flaky/post")  # not idempotent: one attempt, the 503 is returned
        assert once.status_code == 503
        assert calls["post"] == 1
        opted = await client.post("/flaky/opted", idempotent=True)
        assert opted.status_code == 200
        assert calls["opted"] == 3
    finally:
        await client.aclose()


async def test_timeout_is_504_and_unreachable_is_502(upstream):
    client = ServiceClient(upstream, timeout=0.2, attempts=1)
    try:
        with pytest.raises(GatewayTimeout):
            await client.get("/slow")
    finally:
        await client.aclose()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    down = ServiceClient(f"http://127.0.0.1:{dead}", attempts=2, retry_timeout=2)
    try:
        with pytest.raises(BadGateway) as exc:
            await down.get("/anything")
        assert exc.value.status == 502
    finally:
        with contextlib.suppress(Exception):
            await down.aclose()
