"""Where the customer service's read costs more than the bare app (issue 13): both apps in this process
on one seeded database, called as ASGI apps (no HTTP, no load generator) `--requests` times each, 8 at a
time; prints each one's CPU per request, then the service's profile (cProfile) grouped by what the time
is spent in, and its top functions.

    .venv/bin/python bench/gateway/profile_read.py [--customers 10000] [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import os
import pstats
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import new_database, postgres
from reference import seed

from crm_shared.testing import partner_headers

# Where a function's file lies -> the part of the request it belongs to (first match wins).
PARTS = (
    ("the principal and access checks", ("crm_shared/access", "crm_shared/auth", "crm_shared/signing", "jwt/")),
    ("ORM: statement, loading, session", ("sqlalchemy/", "crm_shared/db", "crm_customer/customers/repository")),
    ("asyncpg (driver)", ("asyncpg/",)),
    ("pydantic: validate the ORM object, dump JSON", ("pydantic", "crm_shared/pii", "crm_customer/customers/service")),
    ("FastAPI routing and dependencies", ("fastapi/",)),
    ("Starlette + middleware", ("starlette/", "asgi_correlation_id", "prometheus", "crm_shared/input_guard",
                                "crm_shared/observability", "crm_shared/tracing", "crm_shared/app", "crm_shared/errors",
                                "opentelemetry")),
    ("asyncio / uvloop", ("asyncio/", "uvloop")),
)  # fmt: skip


def caller(app: Any, headers: dict[str, str]) -> Callable[[str], Any]:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def get(path: str) -> int:
        status = 0

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": raw,
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {},
        }  # fmt: skip
        await app(scope, receive, send)
        return status

    return get


async def drive(get: Callable[[str], Any], ids: list[str], n: int) -> float:
    """`n` reads, 8 at a time; CPU seconds per request of this process."""
    cycle = itertools.cycle(ids)

    async def one_by_one(k: int) -> None:
        for _ in range(k):
            assert await get(f"/api/v1/customers/{next(cycle)}") == 200

    started = time.process_time()
    await asyncio.gather(*(one_by_one(n // 8) for _ in range(8)))
    return (time.process_time() - started) / (n // 8 * 8)


async def run(db_url: str, ids: list[str], n: int, out: Path) -> None:
    os.environ.update(CUSTOMER_DATABASE_URL=db_url, CUSTOMER_LOG_LEVEL="WARNING", CUSTOMER_SUBSCRIBERS="[]")
    os.environ["BARE_DATABASE_URL"] = db_url
    import bare_read
    from sqlalchemy import select
    from sqlalchemy.orm import joinedload

    from crm_customer.config import Settings
    from crm_customer.customers import service as customers
    from crm_customer.customers.endpoints import router as customers_router
    from crm_customer.customers.models import Customer
    from crm_customer.main import SERVICE_DIR, create_app
    from crm_shared.app import create_service_app
    from crm_shared.auth import Principal

    service, bare = create_app(), bare_read.create_app()
    # The same service with only the customers router: what matching the other routes costs.
    alone = create_service_app(
        settings=Settings(), title="customers only", description="", service_dir=SERVICE_DIR, routers=[customers_router]
    )
    headers = partner_headers("bench-partner", "customers:read")
    principal = Principal("bench-partner", "partner", frozenset({"customers:read"}), ("partner",))
    async with (
        service.router.lifespan_context(service),
        alone.router.lifespan_context(alone),
        bare.router.lifespan_context(bare),
    ):
        service_get, alone_get, bare_get = caller(service, headers), caller(alone, headers), caller(bare, {})
        read_sessions = service.state.read_sessionmaker
        pool = bare.state.pool

        async def orm_and_pydantic(path: str) -> int:  # the handler's work without the framework
            async with read_sessions() as session:
                customer = await customers.get(session, uuid.UUID(path.rsplit("/", 1)[1]), principal=principal)
                customers.to_read(customer, principal).model_dump_json()
            return 200

        async def orm_only(path: str) -> int:
            async with read_sessions() as session:
                await customers.get(session, uuid.UUID(path.rsplit("/", 1)[1]), principal=principal)
            return 200

        async def orm_built_per_call(path: str) -> int:  # as repository._load did before READ_BY_ID
            customer_id = uuid.UUID(path.rsplit("/", 1)[1])
            async with read_sessions() as session:
                stmt = select(Customer).where(Customer.id == customer_id).options(joinedload(Customer.external_refs))
                (await session.execute(stmt)).unique().scalar_one_or_none()
            return 200

        async def bare_sql(path: str) -> int:  # the bare app's work without Starlette
            rows = await pool.fetch(bare_read.SQL, uuid.UUID(path.rsplit("/", 1)[1]))
            bare_read._encode(bare_read.to_json(rows))
            return 200

        steps = {
            "service app (HTTP framework + middleware + handler)": service_get,
            "service app with only the customers router": alone_get,
            "  handler work only: session, ORM load, pydantic validate + JSON": orm_and_pydantic,
            "  ORM load only (session + select + joinedload)": orm_only,
            "  the same, the statement built on each call (before)": orm_built_per_call,
            "bare app (Starlette + asyncpg + msgspec)": bare_get,
            "  bare work only: asyncpg fetch + dict + msgspec": bare_sql,
        }
        for get in steps.values():  # warm: pools filled, statements prepared
            await drive(get, ids, 400)
        cpu: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(3):  # alternated, medians: the machine is shared
            for name, get in steps.items():
                cpu[name].append(await drive(get, ids, n))
        profile = cProfile.Profile()
        profile.enable()
        await drive(service_get, ids, n)
        profile.disable()
    profile.dump_stats(out)
    print(f"in process, {n} reads per step, 8 at a time, median of 3: CPU per request of this process")
    for name, values in cpu.items():
        print(f"  {statistics.median(values) * 1e6:>6.0f} us  {name}")
    report(out, n)


def report(path: Path, n: int) -> None:
    stats = pstats.Stats(str(path))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in raw.values())
    parts: dict[str, float] = {}
    for (file, _, _), (_, _, tt, _, callers) in raw.items():
        # A builtin's own time goes to the parts of its callers, in proportion to the time they spent in it.
        shares = [(caller[0], edge[2]) for caller, edge in callers.items()] if file == "~" and callers else [(file, tt)]
        weight = sum(w for _, w in shares) or 1.0
        for where, w in shares:
            name = next((p for p, marks in PARTS if any(m in where for m in marks)), "other")
            parts[name] = parts.get(name, 0.0) + tt * w / weight
    print(f"service profile: {total / n * 1e6:.0f} us/request under cProfile (own time by part)")
    for name, tt in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {tt / total:>5.0%}  {tt / n * 1e6:>6.0f} us  {name}")
    stats.sort_stats("cumulative").print_stats(35)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=3_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/customer-read.prof"))
    args = parser.parse_args()
    with postgres() as admin_url:
        db_url = new_database(admin_url, "bench_profile")
        ids = asyncio.run(seed(db_url, args.customers, 1_000))
        asyncio.run(run(db_url, ids, args.requests, args.out))


if __name__ == "__main__":
    main()
