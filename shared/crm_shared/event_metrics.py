"""Prometheus metrics of event delivery, on every service's /metrics:

  crm_inbox_dead_lettered_events_total{event_type}   counter: events set aside (this process)
  crm_inbox_dead_letters_open{event_type}            gauge: dead letters waiting for a replay or discard
  crm_outbox_pending_messages{subscriber}            gauge: outbox messages still owed to a subscriber
  crm_outbox_oldest_pending_age_seconds{subscriber}  gauge: age of the oldest of them (0 when none)

The gauges describe the database, not the process: they are read when /metrics is scraped (`refresh`,
a dependency of that route), with two cheap queries (the pending outbox rows through their partial
index, the dead letters grouped by type), and handed to the collector through a context variable, so
an app only ever reports its own database. A service adds gauges of its own the same way (`DatabaseGauge`,
`create_service_app(database_gauges=...)`): one query each, read at the same scrape.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from fastapi import Request
from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from .db import asyncpg_connection

log = logging.getLogger("crm.metrics")
SCRAPE_TIMEOUT_SECONDS = 2.0

DEAD_LETTERED = Counter(
    "crm_inbox_dead_lettered_events",
    "Events set aside as dead letters because their handler failed or their envelope was malformed",
    ["event_type"],
)

_PENDING = """
    SELECT s AS subscriber, count(*) AS messages, extract(epoch FROM now() - min(created_at)) AS oldest
    FROM outbox_messages, unnest(pending) AS s
    WHERE delivered_at IS NULL AND NOT dead
    GROUP BY s
"""
_OPEN = "SELECT event_type, count(*) AS n FROM inbox_dead_letters GROUP BY event_type"


@dataclass(frozen=True)
class DatabaseGauge:
    """A gauge read from the service's database at each scrape: `sql` returns one row per sample, the label
    columns (in `labels` order) then the value in a column named `value`."""

    name: str
    documentation: str
    sql: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Snapshot:
    open_dead_letters: dict[str, int] = field(default_factory=dict)
    pending: dict[str, tuple[int, float]] = field(default_factory=dict)  # subscriber -> (messages, oldest s)
    # a service's own gauges: (gauge, [(label values, value)])
    extra: tuple[tuple[DatabaseGauge, list[tuple[list[str], float]]], ...] = ()


_snapshot: ContextVar[_Snapshot | None] = ContextVar("crm_event_metrics", default=None)


class _EventGauges(Collector):
    def collect(self) -> Iterator[Metric]:
        snapshot = _snapshot.get()
        if snapshot is None:  # not a scrape of a service with a database
            return
        open_ = GaugeMetricFamily(
            "crm_inbox_dead_letters_open", "Dead letters waiting for a replay or a discard", labels=["event_type"]
        )
        for event_type, n in sorted(snapshot.open_dead_letters.items()):
            open_.add_metric([event_type], n)
        messages = GaugeMetricFamily(
            "crm_outbox_pending_messages", "Outbox messages still owed to a subscriber", labels=["subscriber"]
        )
        oldest = GaugeMetricFamily(
            "crm_outbox_oldest_pending_age_seconds",
            "Age of the oldest outbox message still owed to a subscriber (0 when none)",
            labels=["subscriber"],
        )
        for subscriber, (n, age) in sorted(snapshot.pending.items()):
            messages.add_metric([subscriber], n)
            oldest.add_metric([subscriber], age)
        yield from (open_, messages, oldest)
        for gauge, samples in snapshot.extra:
            family = GaugeMetricFamily(gauge.name, gauge.documentation, labels=list(gauge.labels))
            for labels, value in samples:
                family.add_metric(labels, value)
            yield family

    def describe(self) -> list[Metric]:
        return []  # computed per scrape; nothing to check at registration


REGISTRY.register(_EventGauges())


async def refresh(request: Request) -> None:
    """Read the gauges' values for this scrape. A database that does not answer in time leaves them out
    (the process's own metrics are still served)."""
    state = request.app.state
    engine = getattr(state, "engine", None)
    if engine is None:
        return
    subscribers = [s.name for s in state.settings.subscribers]
    gauges: tuple[DatabaseGauge, ...] = getattr(state, "database_gauges", ())
    try:
        snapshot = await asyncio.wait_for(_read(engine, subscribers, gauges), SCRAPE_TIMEOUT_SECONDS)
    except Exception as exc:
        log.warning("event metrics not read: %s", type(exc).__name__)
        return
    _snapshot.set(snapshot)


async def _read(engine: AsyncEngine, subscribers: list[str], gauges: tuple[DatabaseGauge, ...]) -> _Snapshot:
    async with engine.connect() as conn:
        raw = await asyncpg_connection(conn)
        pending = {name: (0, 0.0) for name in subscribers}
        for r in await raw.fetch(_PENDING):
            pending[r["subscriber"]] = (r["messages"], float(r["oldest"]))
        open_ = {r["event_type"]: r["n"] for r in await raw.fetch(_OPEN)}
        extra = []
        for gauge in gauges:
            rows = await raw.fetch(gauge.sql)
            samples = [
                ([str(r[label]) for label in gauge.labels], float(r["value"])) for r in rows if r["value"] is not None
            ]
            extra.append((gauge, samples))
    return _Snapshot(open_, pending, tuple(extra))
