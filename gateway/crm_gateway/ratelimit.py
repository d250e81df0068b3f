"""Per-client rate limit with the `limits` library, in memory (one budget per gateway process)."""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)

STRATEGIES: dict[str, type[RateLimiter]] = {
    "fixed-window": FixedWindowRateLimiter,  # O(1) per hit: the default for the hot path
    "moving-window": MovingWindowRateLimiter,
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
}


class ClientRateLimiter:
    def __init__(self, limit: str, strategy: str = "fixed-window") -> None:
        self.item = parse(limit)
        self._limiter = STRATEGIES[strategy](MemoryStorage())

    def retry_after(self, client: str) -> int | None:
        """Count one request; None when allowed, else the whole seconds until the window frees up."""
        if self._limiter.hit(self.item, client):
            return None
        reset = self._limiter.get_window_stats(self.item, client).reset_time
        return max(1, math.ceil(reset - time.time()))
