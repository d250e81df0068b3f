"""What the benchmarks share: a PostgreSQL server, a migrated customer database, the customer
service and the gateway as real processes, and a partner API key."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from crm_customer.main import SERVICE_DIR
from crm_shared.auth import generate_api_key, new_secret
from crm_shared.embedded_pg import create_database, database_url, start_embedded
from crm_shared.migrations import upgrade_head
from crm_shared.testing import ServerProcess, free_port

SCOPES = ["customers:read", "customers:write", "orders:read", "orders:write"]


@dataclass
class Suite:
    admin_url: str
    db_url: str
    service: ServerProcess
    gateway: ServerProcess
    api_key: str


def new_database(admin_url: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    asyncio.run(create_database(admin_url, name, exist_ok=False))
    url = database_url(admin_url, name)
    upgrade_head(SERVICE_DIR, url)
    return url


@contextmanager
def postgres() -> Iterator[str]:
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    with tempfile.TemporaryDirectory(prefix="crm-bench-pg-", dir="/tmp") as tmp:
        server, url = start_embedded(Path(tmp) / "pg")
        try:
            yield url
        finally:
            server.cleanup()  # type: ignore[attr-defined]


@contextmanager
def suite(admin_url: str, *, service_workers: int = 1, gateway_workers: int = 1) -> Iterator[Suite]:
    db_url = new_database(admin_url, "bench_customer")
    key, key_id, hashed = generate_api_key()
    service = ServerProcess(
        "crm_customer.main:create_app",
        {
            "CUSTOMER_DATABASE_URL": db_url,
            "CUSTOMER_LOG_LEVEL": "WARNING",
            "CUSTOMER_SUBSCRIBERS": "[]",
        },
        workers=service_workers,
    )
    port = free_port()
    gateway = ServerProcess(
        "crm_gateway.main:create_app",
        {
            "GATEWAY_SERVICES": json.dumps({"customer": service.url}),
            "GATEWAY_API_KEYS": json.dumps(
                [{"id": key_id, "hash": hashed, "client_id": "bench-partner", "scopes": SCOPES, "name": "bench"}]
            ),
            "GATEWAY_LOG_LEVEL": "WARNING",
            "GATEWAY_RATE_LIMIT": "100000000/minute",
            "GATEWAY_JWT_SECRET": new_secret(),
        },
        port=port,
        workers=gateway_workers,
    )
    try:
        service.wait_ready()
        gateway.wait_ready("/healthz")
        yield Suite(admin_url, db_url, service, gateway, key)
    finally:
        try:
            gateway.stop()
        finally:
            service.stop()


def machine_reference(rows: int = 20_000_000, repeats: int = 3) -> float:
    """Seconds of a fixed single-threaded CPU job (NumPy sorting `rows` random doubles, best of `repeats`): the
    machine's speed at the time. Shared 2-core machines vary by up to ~2x within an hour (the same encode
    measured 2.1 and 4.0 us a row); a run's figures compare with another's by their ratio to it."""
    import numpy as np

    values = np.random.default_rng(0).random(rows)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        np.sort(values, kind="quicksort")
        best = min(best, time.perf_counter() - started)
    return best


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1] if len(values) > 1 else values[0]
