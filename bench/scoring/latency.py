"""Event-to-score latency: single orders pushed to the customer service, timed until the scoring service's
`customer_scores` row of that customer shows them (outbox relay -> POST /internal/events -> rescore).

Both services run as real uvicorn processes; the customers exist in the customer service under the same
ids as in the loaded scoring base, so each order lands on a customer with a long history."""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import asyncpg
from common import new_database
from sqlalchemy.engine import make_url
from synth import PRODUCT_LINES, dsn

from crm_shared.embedded_pg import drop_database
from crm_shared.testing import ServerProcess, partner_headers

PARTNER = "bench-partner"
POLL_SECONDS = 0.005


@dataclass
class LatencyResult:
    seconds: list[float] = field(default_factory=list)  # send -> score row shows the order
    response_seconds: list[float] = field(default_factory=list)  # send -> 201 from the customer service
    pickup_seconds: list[float] = field(default_factory=list)  # order commit -> outbox relay claims it
    timeouts: int = 0
    unexpected_counts: int = 0  # the row changed, but not to order_count + 1
    history_orders: list[int] = field(default_factory=list)
    alongside: Any = None  # what the job run alongside the pushes returned
    pushed: list[uuid.UUID] = field(default_factory=list)  # the orders, warm-up included


async def pick_customers(scoring_dsn: str, n: int, min_orders: int, seed: int) -> list[tuple[uuid.UUID, int]]:
    """Up to n random customers of the base with at least `min_orders` orders (and their order counts)."""
    conn = await asyncpg.connect(scoring_dsn)
    try:
        rows = await conn.fetch(
            """
            SELECT k.customer_id, (SELECT count(*) FROM purchases p WHERE p.customer_id = k.customer_id) AS n
            FROM (SELECT customer_id FROM known_customers ORDER BY md5(customer_id::text || $2) LIMIT $1 * 20) k
            """,
            n,
            str(seed),
        )
    finally:
        await conn.close()
    picked = [(r["customer_id"], r["n"]) for r in rows if r["n"] >= min_orders][:n]
    if not picked:
        raise SystemExit(f"no customer with at least {min_orders} orders in the base")
    return picked


async def seed_customers(customer_dsn: str, ids: list[uuid.UUID]) -> None:
    """The customers as rows of the customer service's own table (only the required columns)."""
    conn = await asyncpg.connect(customer_dsn)
    try:
        await conn.copy_records_to_table(
            "customers",
            columns=["id", "kind", "display_name", "first_name"],
            records=[(cid, "individual", f"Bench {i}", f"Bench {i}") for i, cid in enumerate(ids)],
        )
        await conn.execute("ANALYZE customers")
    finally:
        await conn.close()


def order_body(customer_id: uuid.UUID, rng: random.Random) -> bytes:
    price = Decimal(rng.randint(500, 20_000)) / 100
    line = {"sku": f"SKU-{rng.randint(1, 500)}", "quantity": "1", "unit_price": str(price)}
    line["product_line"] = rng.choice(PRODUCT_LINES)
    body = {
        "external_id": f"BENCH-{uuid.uuid4().hex}",
        "customer_id": str(customer_id),
        "ordered_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "currency": "EUR",
        "amount": str(price),
        "payment_method": "card",
        "channel": "web",
        "lines": [line],
    }
    return json.dumps(body).encode()


async def push_and_wait(
    session: aiohttp.ClientSession,
    base_url: str,
    headers: dict[str, str],
    poll: asyncpg.Connection,
    customer: uuid.UUID,
    body: bytes,
    wait_seconds: float,
) -> tuple[float, float, uuid.UUID, bool | None]:
    """One order: (end-to-end s, response s, order id, order_count went up by exactly one; None on timeout).
    Waits for the count, not any change: a batch may rewrite the row meanwhile."""
    query = "SELECT order_count FROM customer_scores WHERE customer_id = $1"
    before = await poll.fetchval(query, customer)
    expected = (before or 0) + 1
    t0 = time.perf_counter()
    async with session.post(f"{base_url}/api/v1/orders", data=body, headers=headers) as r:
        payload = await r.read()
        if r.status != 201:
            raise RuntimeError(f"order push failed: {r.status} {payload[:300]!r}")
    responded = time.perf_counter() - t0
    order_id = uuid.UUID(json.loads(payload)["id"])
    while True:
        count = await poll.fetchval(query, customer)
        elapsed = time.perf_counter() - t0
        if count is not None and count >= expected:
            return elapsed, responded, order_id, count == expected
        if elapsed > wait_seconds:
            return elapsed, responded, order_id, None
        await asyncio.sleep(POLL_SECONDS)


async def _run(
    customer_service_url: str,
    scoring_dsn: str,
    customers: list[tuple[uuid.UUID, int]],
    orders: int,
    warmup: int,
    wait_seconds: float,
    seed: int,
    alongside: Callable[[], Any] | None = None,
) -> LatencyResult:
    """Push `orders` (after `warmup`) one at a time; `alongside` runs in a thread from the end of the warm-up,
    and pushing goes on until it returns (its value in `result.alongside`)."""
    rng = random.Random(seed)
    headers = {**partner_headers(PARTNER, "orders:write"), "Content-Type": "application/json"}
    result = LatencyResult()
    poll = await asyncpg.connect(scoring_dsn)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            job: asyncio.Future[Any] | None = None
            i = 0
            while True:
                if i == warmup and alongside is not None and job is None:
                    job = asyncio.ensure_future(asyncio.to_thread(alongside))
                if i >= warmup + orders and (job is None or job.done()):
                    break
                i += 1
                customer, history = rng.choice(customers)
                body = order_body(customer, rng)
                call_headers = {**headers, "Idempotency-Key": str(uuid.uuid4())}
                elapsed, responded, order_id, counted = await push_and_wait(
                    session, customer_service_url, call_headers, poll, customer, body, wait_seconds
                )
                result.pushed.append(order_id)
                if i <= warmup:
                    continue
                if counted is None:
                    result.timeouts += 1
                    if result.timeouts == 3 and not result.seconds:
                        raise RuntimeError(f"no score update within {wait_seconds:.0f} s for the first orders")
                    continue
                result.seconds.append(elapsed)
                result.response_seconds.append(responded)
                result.history_orders.append(history)
                result.unexpected_counts += not counted
            if job is not None:
                result.alongside = await job
    finally:
        await poll.close()
    return result


async def _pickup_lags(customer_dsn: str) -> list[float]:
    """Per outbox message: commit of the order -> the relay's claim (its `delivered_at` is its transaction
    start, taken before the delivery itself)."""
    conn = await asyncpg.connect(customer_dsn)
    try:
        rows = await conn.fetch(
            "SELECT extract(epoch FROM delivered_at - created_at) AS lag FROM outbox_messages "
            "WHERE delivered_at IS NOT NULL AND 'order.created' = ANY(event_types) ORDER BY id"
        )
    finally:
        await conn.close()
    return [float(r["lag"]) for r in rows]


def measure(
    admin_url: str,
    scoring_url: str,
    *,
    orders: int = 200,
    warmup: int = 5,
    candidates: int = 2000,
    min_orders: int = 10,
    timeout: float = 15.0,
    seed: int = 7,
    alongside: Callable[[], Any] | None = None,
) -> LatencyResult:
    """Start both services on the loaded scoring database and a fresh customer database, push `orders`
    single orders one at a time, and time each until its score row shows it. With `alongside` (e.g. a batch
    run), that job starts after the warm-up and orders keep coming until it ends; its return value is kept
    in the result. The pushed orders stay in the scoring base (`result.pushed`, see `forget`)."""
    scoring_dsn = dsn(scoring_url)
    customers = asyncio.run(pick_customers(scoring_dsn, candidates, min_orders, seed))
    customer_url = new_database(admin_url, "bench_scoring_customer")
    secret = secrets.token_hex(16)
    try:
        asyncio.run(seed_customers(dsn(customer_url), [c for c, _ in customers]))
        scoring = ServerProcess(
            "crm_scoring.main:create_app",
            {
                "SCORING_DATABASE_URL": scoring_url,
                "SCORING_EVENT_SECRET": secret,
                "SCORING_SUBSCRIBERS": "[]",
                "SCORING_LOG_LEVEL": "WARNING",
            },
        )
        subscribers = [{"name": "scoring", "url": f"{scoring.url}/internal/events", "types": ["order.*", "customer.*"]}]
        customer = ServerProcess(
            "crm_customer.main:create_app",
            {
                "CUSTOMER_DATABASE_URL": customer_url,
                "CUSTOMER_SUBSCRIBERS": json.dumps(subscribers),
                "CUSTOMER_EVENT_SECRET": secret,
                "CUSTOMER_OUTBOX_POLL_SECONDS": "0.2",
                "CUSTOMER_LOG_LEVEL": "WARNING",
            },
        )
        try:
            scoring.wait_ready(timeout=60)
            customer.wait_ready(timeout=60)
            try:
                result = asyncio.run(
                    _run(customer.url, scoring_dsn, customers, orders, warmup, timeout, seed, alongside)
                )
                if result.timeouts:
                    print("--- scoring service log (tail) ---\n" + scoring.output()[-3000:])
                    print("--- customer service log (tail) ---\n" + customer.output()[-3000:])
            except Exception:
                print("--- scoring service log (tail) ---\n" + scoring.output()[-3000:])
                print("--- customer service log (tail) ---\n" + customer.output()[-3000:])
                raise
            result.pickup_seconds = asyncio.run(_pickup_lags(dsn(customer_url)))[warmup:]
        finally:
            customer.stop()
            scoring.stop()
    finally:
        asyncio.run(drop_database(admin_url, make_url(customer_url).database or ""))
    return result


def forget(scoring_url: str, order_ids: list[uuid.UUID]) -> None:
    """Take pushed orders out of a reused base once every measurement is done: taken out in between, they
    would leave score rows counting orders the purchases no longer hold (a crash leaves them to the reset of
    the next reuse)."""
    if order_ids:
        asyncio.run(_forget(dsn(scoring_url), order_ids))


async def _forget(scoring_dsn: str, order_ids: list[uuid.UUID]) -> None:
    conn = await asyncpg.connect(scoring_dsn)
    try:
        await conn.execute("DELETE FROM purchases WHERE order_id = ANY($1::uuid[])", order_ids)
    finally:
        await conn.close()
