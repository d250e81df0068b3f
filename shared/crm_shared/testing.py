"""Pytest plugin for every part's tests (loaded with `-p crm_shared.testing`).

Tests run on real PostgreSQL: TEST_DATABASE_URL (or DATABASE_URL) when set, else an embedded server
started once per run. Each service's migrations build a template database once; every test gets a
fresh clone of it (CREATE DATABASE ... TEMPLATE, ~50 ms), so tests commit for real, run concurrent
transactions, and never see each other's rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from .auth import PRINCIPAL_HEADER, Principal, PrincipalKind, PrincipalTokens
from .embedded_pg import asyncpg_dsn, create_database, database_url, drop_database, start_embedded
from .migrations import upgrade_head
from .topology import GATEWAY, SERVICES

# The secrets every part needs, fixed for a test run (as `make run` generates them), so settings built
# by tests and servers started as processes agree. Set before any part's settings are read.
# Kept in the environment too, so worker processes a run spawns (pytest-xdist) use the run's secrets.


def _run_secret(name: str) -> str:
    return os.environ.setdefault(f"CRM_TEST_{name.upper().replace('-', '_')}", f"test-{name}-{uuid.uuid4().hex}")


TEST_PRINCIPAL_KEY = _run_secret("principal-key")
TEST_CURSOR_SECRET = _run_secret("cursor-secret")
TEST_EVENT_SECRET = _run_secret("event-secret")
TEST_JWT_AUDIENCE, TEST_JWT_ISSUER = "crm-test", "crm-test-issuer"
for _part in SERVICES.values():
    os.environ.setdefault(f"{_part.env_prefix}PRINCIPAL_KEYS", f'["{TEST_PRINCIPAL_KEY}"]')
    os.environ.setdefault(f"{_part.env_prefix}CURSOR_SECRET", TEST_CURSOR_SECRET)
    os.environ.setdefault(f"{_part.env_prefix}EVENT_SECRET", TEST_EVENT_SECRET)
    os.environ.setdefault(f"{_part.env_prefix}OPENAPI_PREBUILD", "false")  # apps started in process (ServerProcess: on)
# The campaign service signs the links in its messages; its delivery worker runs only where a test starts
# it (the worker's own tests drive it pass by pass).
TEST_LINK_SECRET = _run_secret("link-secret")
os.environ.setdefault("CAMPAIGN_LINK_SECRETS", f'["{TEST_LINK_SECRET}"]')
os.environ.setdefault("CAMPAIGN_DELIVERY_WORKER_ENABLED", "false")
# The webhooks service seals its subscriptions' signing secrets with these keys.
os.environ.setdefault("WEBHOOKS_SECRET_KEYS", json.dumps([_run_secret("webhooks-secret-key")]))
os.environ.setdefault(f"{GATEWAY.env_prefix}PRINCIPAL_KEYS", f'["{TEST_PRINCIPAL_KEY}"]')
os.environ.setdefault(f"{GATEWAY.env_prefix}JWT_AUDIENCE", TEST_JWT_AUDIENCE)
os.environ.setdefault(f"{GATEWAY.env_prefix}JWT_ISSUER", TEST_JWT_ISSUER)
_tokens = PrincipalTokens(json.loads(os.environ[f"{GATEWAY.env_prefix}PRINCIPAL_KEYS"])[:1], issuer="gateway")


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Admin URL of the PostgreSQL server the tests use."""
    if _external_server():
        external = os.environ.get("TEST_DATABASE_URL") or os.environ["DATABASE_URL"]
        yield make_url(external).set(drivername="postgresql").render_as_string(hide_password=False)
        return
    # A short path: the server's unix socket lives in its data folder (107-byte limit).
    data_dir = Path(f"/tmp/crm-test-pg-{os.getpid()}")
    server, url = start_embedded(data_dir)
    yield url
    with contextlib.suppress(Exception):
        server.cleanup()
    # Its databases with it: a run leaves gigabytes of cloned databases behind otherwise.
    shutil.rmtree(data_dir, ignore_errors=True)


class DatabaseFactory:
    """Fresh migrated databases for a service, cloned from a per-run template."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._templates: dict[Path, str] = {}
        self._created: list[str] = []
        self._lock = asyncio.Lock()

    async def template(self, service_dir: Path) -> str:
        async with self._lock:
            if service_dir not in self._templates:
                name = f"tpl_{service_dir.name}_{uuid.uuid4().hex[:8]}"
                await create_database(self.admin_url, name, exist_ok=False)
                await asyncio.to_thread(upgrade_head, service_dir, database_url(self.admin_url, name))
                self._templates[service_dir] = name
                self._created.append(name)
            return self._templates[service_dir]

    async def fresh(self, service_dir: Path) -> str:
        """The asyncpg URL of a new database at migration head."""
        template = await self.template(service_dir)
        name = f"test_{service_dir.name}_{uuid.uuid4().hex[:10]}"
        await create_database(self.admin_url, name, template=template, exist_ok=False)
        self._created.append(name)
        return database_url(self.admin_url, name)

    async def drop_all(self) -> None:
        for name in reversed(self._created):
            with contextlib.suppress(Exception):
                await drop_database(self.admin_url, name)


def _external_server() -> bool:
    return bool(os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL"))


@pytest.fixture(scope="session")
async def databases(pg_admin_url: str) -> AsyncIterator[DatabaseFactory]:
    factory = DatabaseFactory(pg_admin_url)
    yield factory
    # The embedded server is thrown away whole with its data folder. Dropping its ~1,400 databases one by
    # one took minutes on a loaded 2-core machine (past the 300 s teardown timeout); only a server the
    # run does not own is cleaned database by database.
    if _external_server():
        await factory.drop_all()


def service_database_fixtures(service_dir: Path, settings_type: Callable[..., Any]) -> tuple[Any, Any]:
    """A service's `db_url` (a fresh clone of its migrated template, per test) and `settings` (its
    Settings on that database, quiet logs) fixtures: `db_url, settings = service_database_fixtures(
    SERVICE_DIR, Settings)` in the service's conftest."""

    @pytest.fixture
    async def db_url(databases: DatabaseFactory) -> str:
        return await databases.fresh(service_dir)

    @pytest.fixture
    def settings(db_url: str) -> Any:
        return settings_type(database_url=db_url, environment="test", log_json=False, log_level="WARNING")

    return db_url, settings


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the test's database (`db_url`, which each part's conftest defines), to check
    what the API really stored."""
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    yield conn
    await conn.close()


@asynccontextmanager
async def app_client(app: FastAPI, *, headers: dict[str, str] | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and talk to it in-process over ASGI."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as client:
            yield client


def principal_headers(
    client_id: str, kind: PrincipalKind, *scopes: str, service: str = "customer", roles: tuple[str, ...] = ()
) -> dict[str, str]:
    """The signed principal the gateway sends `service` for this caller (valid for the whole run)."""
    principal = Principal(client_id, kind, frozenset(scopes), roles or (kind,))
    return {PRINCIPAL_HEADER: _tokens.mint(principal, service, lifetime=24 * 3600)}


def partner_headers(partner: str, *scopes: str, service: str = "customer") -> dict[str, str]:
    """What the gateway sends for a partner's API key."""
    return principal_headers(partner, "partner", *scopes, service=service)


def user_headers(user: str, *scopes: str, service: str = "customer") -> dict[str, str]:
    """What the gateway sends for a user's JWT."""
    return principal_headers(user, "user", *scopes, service=service, roles=("staff",))


# Ports servers under test listen on are drawn below the kernel's ephemeral range: bind(("", 0)) hands out a
# port from that range, which outgoing connections (of every test process: to PostgreSQL, to other servers)
# take as their local ports too, so a port found free there could be a connection's by the time a server binds
# it (a CI run lost a whole e2e module to "address already in use" that way).
LISTEN_PORTS = (20_000, 32_000)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, at random below the ephemeral range (LISTEN_PORTS); the kernel's
    choice where that range overlaps it or nothing there is free."""
    low, high = LISTEN_PORTS
    first_ephemeral = _ephemeral_ports()[0]
    if first_ephemeral > low:
        rng = random.SystemRandom()  # not the tests' seeded random: parallel workers must not draw alike
        for _ in range(50):
            port = rng.randrange(low, min(high, first_ephemeral))
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        chosen: int = s.getsockname()[1]  # (host, port) for AF_INET
        return chosen


def _ephemeral_ports() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports (Linux; elsewhere IANA's 49152-65535)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 49_152, 65_535


class ServerProcess:
    """A part started as its own uvicorn process, as in production."""

    def __init__(self, factory: str, env: dict[str, str], *, port: int | None = None, workers: int = 1) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            factory,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--workers",
            str(workers),
        ]
        # Output goes to a file, never an unread pipe: a full pipe would block the server mid-request.
        self.log = tempfile.NamedTemporaryFile(prefix="crm-server-", suffix=".log", delete=False)  # noqa: SIM115
        # A process starts as in production: its OpenAPI document built before it serves.
        prebuild = {f"{part.env_prefix}OPENAPI_PREBUILD": "true" for part in SERVICES.values()}
        self.proc = subprocess.Popen(
            cmd, env={**os.environ, **prebuild, **env}, stdout=self.log, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def wait_ready(self, path: str = "/readyz", timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"process exited with {self.proc.returncode}:\n{self.output()[-4000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + path, timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"{self.url}{path} not ready after {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)

    def kill(self) -> None:
        """SIGKILL: a crash, not a shutdown."""
        self.proc.kill()
        self.proc.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


async def eventually(predicate: Callable[[], Awaitable[Any]], within: float = 15.0) -> Any:
    """Poll an async condition until it is truthy (asynchronous delivery); fail after `within` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if value := await predicate():
            return value
        await asyncio.sleep(0.05)
    raise TimeoutError(f"condition not met within {within}s")
