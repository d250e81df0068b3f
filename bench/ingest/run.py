"""Bulk order ingest through the gateway against raw asyncpg COPY of the same rows (see bench/README.md)."""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import aiohttp
import asyncpg
import msgspec
from sqlalchemy.engine import make_url

from crm_customer.orders.repository import ORDER_COLUMNS
from crm_shared.testing import partner_headers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import new_database, postgres, suite

PARTNER = "bench-partner"
COLUMNS = ORDER_COLUMNS[1:]  # the same columns the service writes, less the id (left to its default)


def dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def make_orders(n: int, customers: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    orders = []
    for i in range(n):
        lines = []
        for j in range(rng.randint(1, 3)):
            qty, price = rng.randint(1, 4), Decimal(rng.randint(199, 9999)) / 100
            lines.append(
                {
                    "sku": f"SKU-{rng.randint(1, 500)}",
                    "quantity": str(qty),
                    "unit_price": str(price),
                    "product_line": f"line-{j % 5}",
                }
            )
        amount = sum(Decimal(x["quantity"]) * Decimal(x["unit_price"]) for x in lines)
        orders.append(
            {
                "external_id": f"SO-{i:08d}",
                "customer": {"external_id": f"C-{rng.randrange(customers):07d}"},
                "ordered_at": (start + timedelta(minutes=rng.randrange(1_000_000))).isoformat().replace("+00:00", "Z"),
                "currency": "EUR",
                "amount": str(amount),
                "payment_method": rng.choice(["card", "cash", "wallet"]),
                "channel": rng.choice(["web", "store", "mobile_app"]),
                "lines": lines,
            }
        )
    return orders


async def seed_customers(url: str, customers: int) -> dict[str, uuid.UUID]:
    """Customers exist before the timed part in both runs: the comparison is about orders."""
    ids = {f"C-{i:07d}": uuid.uuid4() for i in range(customers)}
    conn = await asyncpg.connect(dsn(url))
    try:
        await conn.copy_records_to_table(
            "customers",
            columns=["id", "kind", "display_name", "first_name"],
            records=[(cid, "individual", ref, ref) for ref, cid in ids.items()],
        )
        await conn.copy_records_to_table(
            "customer_refs",
            columns=["partner", "external_id", "customer_id"],
            records=[(PARTNER, ref, cid) for ref, cid in ids.items()],
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return ids


async def push(base: str, auth: dict[str, str], bodies: list[bytes], concurrency: int) -> tuple[float, int]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    created = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal created
        while not queue.empty():
            body = queue.get_nowait()
            headers = {**auth, "Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"}
            async with session.post(f"{base}/api/v1/orders/batch", data=body, headers=headers) as r:
                payload = await r.read()
                if r.status != 200:
                    raise RuntimeError(f"batch failed: {r.status} {payload[:300]!r}")
                created += msgspec.json.decode(payload)["created"]

    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return time.perf_counter() - t0, created


async def raw_copy(url: str, orders: list[dict], ids: dict[str, uuid.UUID], batch: int) -> float:
    records = [
        (
            PARTNER,
            o["external_id"],
            ids[o["customer"]["external_id"]],
            datetime.fromisoformat(o["ordered_at"]),
            o["currency"],
            Decimal(o["amount"]),
            o["payment_method"],
            o["channel"],
            msgspec.json.encode(o["lines"]).decode(),
        )
        for o in orders
    ]
    conn = await asyncpg.connect(dsn(url))
    try:
        t0 = time.perf_counter()
        for start in range(0, len(records), batch):
            async with conn.transaction():
                await conn.copy_records_to_table("orders", columns=COLUMNS, records=records[start : start + batch])
        return time.perf_counter() - t0
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=4, help="batch requests in flight")
    parser.add_argument("--service-workers", type=int, default=2, help="uvicorn workers of the customer service")
    parser.add_argument("--direct", action="store_true", help="also push straight to the service (no gateway)")
    args = parser.parse_args()

    orders = make_orders(args.orders, args.customers)
    bodies = [msgspec.json.encode({"orders": orders[i : i + args.batch]}) for i in range(0, len(orders), args.batch)]
    print(
        f"{args.orders:,} orders in {len(bodies)} batches of {args.batch:,} "
        f"({sum(map(len, bodies)) / 1e6:.1f} MB of JSON), {args.customers:,} customers"
    )
    with postgres() as admin_url:
        copy_db = new_database(admin_url, "bench_copy")
        ids = asyncio.run(seed_customers(copy_db, args.customers))
        copy_seconds = asyncio.run(raw_copy(copy_db, orders, ids, args.batch))
        with suite(admin_url, service_workers=args.service_workers) as s:
            asyncio.run(seed_customers(s.db_url, args.customers))
            auth = {"Authorization": f"Bearer {s.api_key}"}
            api_seconds, created = asyncio.run(push(s.gateway.url, auth, bodies, args.concurrency))
            count = asyncio.run(_count(s.db_url))
        direct_seconds = None
        if args.direct:
            with suite(admin_url, service_workers=args.service_workers) as s:
                asyncio.run(seed_customers(s.db_url, args.customers))
                principal = partner_headers(PARTNER, "orders:write")
                direct_seconds, _ = asyncio.run(push(s.service.url, principal, bodies, args.concurrency))
    if created != args.orders or count != args.orders:
        raise SystemExit(f"expected {args.orders} orders, API reported {created}, table holds {count}")
    api_rate, copy_rate = args.orders / api_seconds, args.orders / copy_seconds
    print(f"raw asyncpg COPY : {copy_rate:>10,.0f} rows/s  ({copy_seconds:.2f} s)")
    print(
        f"API via gateway  : {api_rate:>10,.0f} rows/s  ({api_seconds:.2f} s, {args.concurrency} batches in flight,"
        f" idempotency + outbox included)"
    )
    if direct_seconds:
        print(f"API direct       : {args.orders / direct_seconds:>10,.0f} rows/s  (service alone, no gateway)")
    print(f"ratio API / COPY : {api_rate / copy_rate:.2f}  (target >= 0.50)")


async def _count(url: str) -> int:
    conn = await asyncpg.connect(dsn(url))
    try:
        return await conn.fetchval("SELECT count(*) FROM orders")
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
