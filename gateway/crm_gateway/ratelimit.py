"""Per-client rate limit with the `limits` library.

Storage `memory://` (the default) keeps one budget per gateway process: with N replicas each enforces the
limit on its own share of the traffic. `redis://host:port/db` (or `rediss://`, `redis+unix:///path?db=0`)
keeps one budget per client shared by every replica pointed at that Redis.

A Redis outage (or a Redis slower than `timeout`) fails open to the local budget, never closed: the limit
guards the services against one client's excess, and refusing every client because the limiter's store is
down would turn a Redis outage into a full API outage. While Redis fails each replica counts in its own
memory (the limit still holds per replica), logs the switch once, counts each failed call in
`gateway_rate_limit_storage_errors_total` and shows `gateway_rate_limit_storage_up 0`; one request tries
Redis again every `recheck_seconds`. A slow Redis costs a request about `timeout` seconds at most.
"""

from __future__ import annotations

import logging
import math
import time

import redis.asyncio
from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter as AsyncFixedWindow
from limits.aio.strategies import MovingWindowRateLimiter as AsyncMovingWindow
from limits.aio.strategies import RateLimiter as AsyncRateLimiter
from limits.aio.strategies import SlidingWindowCounterRateLimiter as AsyncSlidingWindowCounter
from limits.errors import StorageError
from limits.storage import MemoryStorage
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from prometheus_client import CollectorRegistry, Counter, Gauge

log = logging.getLogger("crm.gateway.ratelimit")

STRATEGIES: dict[str, tuple[type[RateLimiter], type[AsyncRateLimiter]]] = {
    "fixed-window": (FixedWindowRateLimiter, AsyncFixedWindow),  # O(1) per hit: the default for the hot path
    "moving-window": (MovingWindowRateLimiter, AsyncMovingWindow),
    "sliding-window-counter": (SlidingWindowCounterRateLimiter, AsyncSlidingWindowCounter),
}
MEMORY = "memory://"
REDIS_SCHEMES = ("redis://", "rediss://", "redis+unix://")
KEY_PREFIX = "crm-gateway"  # the keys in a Redis others may share: crm-gateway/LIMITER/<client>/...


def check_storage_uri(uri: str) -> str:
    if uri != MEMORY and not uri.startswith(REDIS_SCHEMES):
        raise ValueError(f"rate limit storage must be {MEMORY} or a redis://, rediss:// or redis+unix:// URI")
    return uri


class ClientRateLimiter:
    def __init__(
        self,
        limit: str,
        strategy: str = "fixed-window",
        storage: str = MEMORY,
        *,
        registry: CollectorRegistry | None = None,
        timeout: float = 0.25,
        recheck_seconds: float = 5.0,
        connections: int = 64,
    ) -> None:
        self.item = parse(limit)
        local, shared = STRATEGIES[strategy]
        self._local = local(MemoryStorage())
        self._pool: redis.asyncio.ConnectionPool | None = None
        self._shared: AsyncRateLimiter | None = None
        if check_storage_uri(storage) != MEMORY:
            # The gateway owns the pool (to close it); limits runs its scripts over it. A burst waits up to
            # `timeout` for one of `connections` (a plain pool refuses the 101st at once: a false outage).
            self._pool = redis.asyncio.BlockingConnectionPool.from_url(
                storage.replace("redis+unix://", "unix://", 1),
                max_connections=connections,
                timeout=timeout,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
            )
            redis_storage = RedisStorage(
                f"async+{storage}",
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix=KEY_PREFIX,
                connection_pool=self._pool,  # type: ignore[arg-type]  # passed through to redis.asyncio.Redis
            )
            self._shared = shared(redis_storage)
        self._recheck_seconds = recheck_seconds
        self._down_until = 0.0  # monotonic time before which the local budget is used without asking Redis
        self._errors = Counter(
            "gateway_rate_limit_storage_errors_total",
            "Rate limit checks whose shared storage (Redis) failed; the local budget answered instead",
            registry=registry,
        )
        self._up = Gauge(
            "gateway_rate_limit_storage_up",
            "0 while the rate limit's shared storage (Redis) is unreachable and this replica counts alone",
            registry=registry,
        )
        self._up.set(1)

    async def retry_after(self, client: str) -> int | None:
        """Count one request; None when allowed, else the whole seconds until the window frees up."""
        shared = self._shared
        now = time.monotonic()
        if shared is not None and now >= self._down_until:
            if self._down_until:  # in an outage: this request probes, the others meanwhile count locally
                self._down_until = now + self._recheck_seconds
            try:
                if await shared.hit(self.item, client):
                    self._recovered()
                    return None
                reset = (await shared.get_window_stats(self.item, client)).reset_time
                self._recovered()
                return _seconds_until(reset)
            except (StorageError, redis.RedisError, OSError) as exc:
                self._failed(exc)
        if self._local.hit(self.item, client):
            return None
        return _seconds_until(self._local.get_window_stats(self.item, client).reset_time)

    def _failed(self, exc: BaseException) -> None:
        self._errors.inc()
        if self._down_until == 0.0:
            log.warning(
                "rate limit storage unreachable or too slow (%s: %s); each replica counts alone, retrying in %.0f s",
                type(exc).__name__,
                exc,
                self._recheck_seconds,
            )
        self._down_until = time.monotonic() + self._recheck_seconds
        self._up.set(0)

    def _recovered(self) -> None:
        if self._down_until != 0.0:
            self._down_until = 0.0
            self._up.set(1)
            log.warning("rate limit storage reachable again; the budget is shared across replicas")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()


def _seconds_until(reset: float) -> int:
    return max(1, math.ceil(reset - time.time()))
