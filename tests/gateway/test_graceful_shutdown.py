"""SIGTERM on a real gateway process: /readyz turns 503 at once while it goes on proxying for the configured
delay, a request in flight finishes, and the process exits 0 (as the services do, crm_shared/shutdown.py)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from crm_shared.testing import ServerProcess, free_port

SLOW = 2.0  # seconds the upstream takes: the request is in flight when SIGTERM arrives


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    """A service stand-in: ready, and one slow public page."""

    async def ready(request: web.Request) -> web.Response:
        return web.json_response({"status": "ready"})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(SLOW)
        return web.json_response({"page": "done"})

    app = web.Application()
    app.router.add_get("/readyz", ready)
    app.router.add_get("/public/campaigns/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_sigterm_drains_the_gateway_without_a_failed_request(upstream: str) -> None:
    gateway = ServerProcess(
        "crm_gateway.main:create_app",
        {
            "GATEWAY_SERVICES": json.dumps({"campaign": upstream}),
            "GATEWAY_JWT_SECRET": "gateway-shutdown-test-jwt-secret-long-enough-for-hs256",
            "GATEWAY_SHUTDOWN_DELAY_SECONDS": "1.0",
            "GATEWAY_LOG_LEVEL": "WARNING",
        },
    )
    try:
        await asyncio.to_thread(gateway.wait_ready)
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            in_flight = asyncio.create_task(http.get("/public/campaigns/slow"))
            await asyncio.sleep(0.3)  # the request has reached the upstream
            gateway.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 1.0
            readiness = (await http.get("/readyz")).status_code
            while readiness != 503 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                readiness = (await http.get("/readyz")).status_code
            assert readiness == 503  # at once, while still serving
            answer = await in_flight
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"page": "done"}
        code = await asyncio.to_thread(gateway.proc.wait, 15)
        assert code == 0, gateway.output()[-2000:]
    finally:
        gateway.stop()
