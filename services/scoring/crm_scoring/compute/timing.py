"""Seconds per step of a long operation, for the run's stats (what ops look at when a run is slow)."""

from __future__ import annotations

import time
from collections.abc import Callable


def stopwatch(timings: dict[str, float]) -> Callable[[str], None]:
    """`lap(name)` records the seconds since the previous lap (or the start) under `name`."""
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    return lap
