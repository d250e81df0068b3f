"""Gateway tests run over real HTTP: stand-in services and the gateway are uvicorn servers on free
loopback ports, in the test's event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
import uvicorn

from crm_gateway.config import ApiKey, GatewaySettings
from crm_gateway.main import create_app
from crm_shared.auth import PRINCIPAL_HEADER, Principal, PrincipalTokens, generate_api_key
from crm_shared.testing import TEST_JWT_AUDIENCE, TEST_JWT_ISSUER, TEST_PRINCIPAL_KEY, free_port

from .upstream import customer_app, scoring_app

JWT_SECRET = "test-secret-" + "0123456789abcdef" * 4  # 64+ bytes: long enough even for HS512
ORIGIN = "https://app.example"
UPSTREAM_TIMEOUT = 0.5


class LiveServer:
    """An ASGI app served by uvicorn (httptools) on a loopback port, inside the running loop."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            http="httptools",
            log_config=None,
            access_log=False,
            proxy_headers=False,  # the tests' loopback client is not a trusted proxy
        )
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> LiveServer:
        self.task = asyncio.create_task(self.server.serve())
        deadline = time.monotonic() + 10
        while not self.server.started:
            if self.task.done() or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task


@dataclass
class Keys:
    """Full API keys handed to partners, by what they may do."""

    full: str  # every scope
    reader: str  # customers:read only
    limited: str  # for the rate-limit test (its own budget)
    configured: list[ApiKey]


def _key(client_id: str, scopes: list[str]) -> tuple[str, ApiKey]:
    full, key_id, hashed = generate_api_key()
    return full, ApiKey(id=key_id, hash=hashed, client_id=client_id, scopes=scopes, name=client_id)


@pytest.fixture(scope="session")
def keys() -> Keys:
    from crm_gateway.scopes import ALL_SCOPES

    full, full_cfg = _key("partner-full", sorted(ALL_SCOPES))
    reader, reader_cfg = _key("partner-reader", ["customers:read"])
    limited, limited_cfg = _key("partner-limited", ["customers:read"])
    return Keys(full, reader, limited, [full_cfg, reader_cfg, limited_cfg])


@pytest.fixture(scope="session")
async def upstreams() -> AsyncIterator[dict[str, LiveServer]]:
    servers = {"customer": LiveServer(customer_app()), "scoring": LiveServer(scoring_app())}
    for server in servers.values():
        await server.start()
    yield servers
    for server in servers.values():
        await server.stop()


def settings_for(services: dict[str, str], keys: Keys, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "environment": "test",
        "services": services,
        "api_keys": keys.configured,
        "jwt_secret": JWT_SECRET,
        "upstream_timeout": UPSTREAM_TIMEOUT,
        "cors_origins": [ORIGIN],
        "log_json": False,
        "log_level": "WARNING",
        **overrides,
    }
    return GatewaySettings(**values)


@pytest.fixture(scope="session")
async def gateway(upstreams: dict[str, LiveServer], keys: Keys) -> AsyncIterator[LiveServer]:
    """A gateway in front of two healthy services."""
    services = {name: server.url for name, server in upstreams.items()}
    server = await LiveServer(create_app(settings_for(services, keys))).start()
    yield server
    await server.stop()


@pytest.fixture(scope="session")
def dead_url() -> str:
    """A loopback port nothing listens on: connections are refused."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
async def degraded_gateway(upstreams: dict[str, LiveServer], keys: Keys, dead_url: str) -> AsyncIterator[LiveServer]:
    """A gateway whose churn service is down, with a tight rate limit."""
    services = {"customer": upstreams["customer"].url, "churn": dead_url}
    server = await LiveServer(create_app(settings_for(services, keys, rate_limit="3/minute"))).start()
    yield server
    await server.stop()


@pytest.fixture(scope="session")
async def client(gateway: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as c:
        yield c


@pytest.fixture(scope="session")
async def degraded_client(degraded_gateway: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=degraded_gateway.url, timeout=10) as c:
        yield c


@pytest.fixture(scope="session")
def make_jwt() -> Callable[..., str]:
    def make(
        sub: str = "user-1",
        roles: list[str] | None = None,
        *,
        expires_in: float = 300,
        algorithm: str = "HS256",
        key: str = JWT_SECRET,
        **claims: Any,
    ) -> str:
        payload = {
            "sub": sub,
            "roles": roles or [],
            "exp": int(time.time() + expires_in),
            "aud": TEST_JWT_AUDIENCE,
            "iss": TEST_JWT_ISSUER,
        }
        payload.update(claims)
        return jwt.encode(payload, key, algorithm=algorithm)

    return make


def principal_seen(echo: dict[str, Any], service: str = "customer") -> Principal:
    """The principal a stand-in service received, verified as the real services verify it."""
    headers = echo["headers"]
    assert not any(h.startswith("x-crm-") and h != PRINCIPAL_HEADER for h in headers), headers
    return PrincipalTokens([TEST_PRINCIPAL_KEY], issuer="test").verify(headers[PRINCIPAL_HEADER], service)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
