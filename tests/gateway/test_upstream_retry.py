"""A pooled upstream connection the service has closed: the gateway sends a request that is safe to
repeat (idempotent method or Idempotency-Key) once more on a fresh connection instead of answering 502."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from crm_gateway.main import create_app

from .conftest import Keys, LiveServer, bearer, settings_for

pytestmark = pytest.mark.asyncio
OK = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'


class DroppingUpstream:
    """Answers the first request of each connection and keeps it open, then reads the second one and
    closes without a byte of answer: a kept-alive connection the service closed meanwhile."""

    def __init__(self) -> None:
        self.connections = 0
        self.answered = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.lower().split(b"\r\n")
                        if line.startswith(b"content-length")
                    ),
                    0,
                )
                await reader.readexactly(length)
                if served == 1:
                    return
                served += 1
                self.answered += 1
                writer.write(OK)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


@pytest.fixture
async def upstream_and_client(keys: Keys) -> AsyncIterator[tuple[DroppingUpstream, httpx.AsyncClient]]:
    upstream = DroppingUpstream()
    async with upstream as url:
        gateway = await LiveServer(create_app(settings_for({"customer": url}, keys))).start()
        async with httpx.AsyncClient(base_url=gateway.url, headers=bearer(keys.full), timeout=10) as client:
            yield upstream, client
        await gateway.stop()


async def test_idempotent_and_keyed_requests_are_retried_once(
    upstream_and_client: tuple[DroppingUpstream, httpx.AsyncClient],
) -> None:
    upstream, client = upstream_and_client
    assert (await client.get("/api/v1/customers")).status_code == 200  # opens the pooled connection
    assert (await client.get("/api/v1/customers")).status_code == 200  # dropped, then retried
    keyed = await client.post("/api/v1/orders", json={"a": 1}, headers={"Idempotency-Key": "k1"})
    assert keyed.status_code == 200
    assert upstream.answered == 3
    assert upstream.connections == 3  # each retry on a fresh connection


async def test_a_write_without_a_key_is_not_sent_twice(
    upstream_and_client: tuple[DroppingUpstream, httpx.AsyncClient],
) -> None:
    upstream, client = upstream_and_client
    assert (await client.get("/api/v1/customers")).status_code == 200
    response = await client.post("/api/v1/orders", json={"a": 1})
    assert response.status_code == 502
    assert upstream.answered == 1
