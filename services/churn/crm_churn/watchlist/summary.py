"""The watchlist in figures, fast at a million entries: adding up the filtered list is a scan of most of the
table (0.4 to 0.5 s at 1M, nearly all listed), too slow to ask on every overview. So one grouped scan (count,
priority count and value at risk per ABC class, stage and region, for any signal and for each signal) is kept
in memory, refreshed in the background every REFRESH_SECONDS while someone reads it; a summary under any of
the list's filters is then a sum over those groups, stating the time it was taken (`as_of`). A replica keeps
its own; one asked first, or after MAX_AGE_SECONDS without a refresh, scans at once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..periodic import every
from . import repository, service
from .schemas import WatchlistFilters, WatchlistSummary

log = logging.getLogger("crm.churn.watchlist")
REFRESH_SECONDS = 60.0  # the background refresh's default (setting `watchlist_summary_seconds`)
MAX_AGE_SECONDS = 120.0  # older than this (the refresh failing), a request scans itself
IDLE_SECONDS = 600.0  # nobody asked for that long: the refresh pauses (no scan for no reader)


@dataclass(frozen=True, slots=True)
class Group:
    abc_class: str | None
    stage: str | None
    region: str | None
    figures: dict[str, tuple[int, int, Decimal]]  # key (any or a signal) -> count, priority, value at risk


@dataclass(frozen=True, slots=True)
class Groups:
    as_of: datetime
    taken_at: float  # monotonic
    groups: tuple[Group, ...]

    def summary(self, filters: WatchlistFilters) -> WatchlistSummary:
        key = filters.signal or "any"
        count, priority, value = 0, 0, Decimal(0)
        for g in self.groups:
            if filters.abc_class is not None and g.abc_class != filters.abc_class:
                continue
            if filters.stage is not None and g.stage != filters.stage:
                continue
            if filters.region is not None and g.region != filters.region:
                continue
            c, p, v = g.figures[key]
            count, priority, value = count + c, priority + p, value + v
        return WatchlistSummary(count=count, priority=priority, value_at_risk=value, as_of=self.as_of)


async def scan(session: AsyncSession) -> Groups:
    """The grouped figures now, under the stored thresholds (the same clock as the list's)."""
    settings = (await service.load_settings(session)).settings
    now = datetime.now(UTC)
    rows = (await session.execute(repository.summary_groups(**service.signal_clock(settings, now)))).all()
    keys = repository.SUMMARY_KEYS
    groups = tuple(
        Group(
            row[0],
            row[1],
            row[2],
            {key: (int(row[3 + 3 * i]), int(row[4 + 3 * i]), Decimal(row[5 + 3 * i])) for i, key in enumerate(keys)},
        )
        for row in rows
    )
    return Groups(now, time.monotonic(), groups)


class SummaryCache:
    """One app's kept groups (app.state.watchlist_summary)."""

    def __init__(self) -> None:
        self.groups: Groups | None = None
        self.read_at = 0.0
        self._scanning = asyncio.Lock()  # concurrent first requests: one scan

    async def summary(self, session: AsyncSession, filters: WatchlistFilters) -> WatchlistSummary:
        self.read_at = time.monotonic()
        groups = self.groups
        if groups is None or time.monotonic() - groups.taken_at > MAX_AGE_SECONDS:
            async with self._scanning:
                groups = self.groups
                if groups is None or time.monotonic() - groups.taken_at > MAX_AGE_SECONDS:
                    groups = self.groups = await scan(session)
        return groups.summary(filters)

    async def refresh(self, sessionmaker: async_sessionmaker[Any]) -> None:
        """The background pass: a new scan while the figures are being read."""
        if self.groups is None or time.monotonic() - self.read_at > IDLE_SECONDS:
            return
        async with sessionmaker() as session:
            self.groups = await scan(session)


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """The app's cache and its background refresh (the watchlist router carries this lifespan)."""
    cache = SummaryCache()
    app.state.watchlist_summary = cache
    async with every("watchlist_summary_seconds", REFRESH_SECONDS, cache.refresh, log)(app):
        yield
