"""Prometheus metrics of proxied requests, by route prefix and status. Each app has its own
registry (several apps can live in one process, e.g. in tests), and the labelled children are
cached so an observation costs one dict lookup instead of a `labels()` call per metric."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNMATCHED = "unmatched"


class ProxyMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._requests = Counter(
            "gateway_requests_total", "Requests through the gateway", ("route", "status"), registry=registry
        )
        self._latency = Histogram(
            "gateway_request_duration_seconds",
            "Time from request received to response fully sent",
            ("route", "status"),
            buckets=BUCKETS,
            registry=registry,
        )
        self._children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        children = self._children.get((route, status))
        if children is None:
            children = (self._requests.labels(route, str(status)), self._latency.labels(route, str(status)))
            self._children[(route, status)] = children
        children[0].inc()
        children[1].observe(seconds)
