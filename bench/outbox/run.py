"""Event delivery: the customer service's outbox relay feeding a real scoring service (see bench/README.md).

Orders are pushed to the customer service at a steady rate (`--rate` orders/s in requests of `--batch`
orders; the ingest benchmark's rate by default) while the scoring service applies the order events. An
order's delivery lag is the time from its commit (the push's response, sent after the commit) to the
moment its purchase row is visible in scoring's database (committed there): a poller looks for the last
order of every request, which travels in the same outbox message as the others.

Phases: a warm-up; steady delivery (`--duration` s, lag p50/p95/max); a subscriber outage (scoring stopped
for `--outage` s while orders keep coming); then scoring starts again and the catch-up is timed: from the
moment it is back until every order committed before that is applied, and until the lag is back under
`--caught-up-lag` seconds. Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import random
import secrets
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aiohttp
import asyncpg
import msgspec

from crm_scoring.main import SERVICE_DIR as SCORING_DIR
from crm_shared.embedded_pg import create_database, database_url
from crm_shared.migrations import upgrade_head
from crm_shared.testing import ServerProcess, free_port, partner_headers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import new_database, percentile, postgres

PARTNER = "bench-partner"
POLL_SECONDS = 0.02


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


# --- setup ------------------------------------------------------------------------------------------


def scoring_database(admin_url: str) -> str:
    name = f"bench_outbox_scoring_{uuid.uuid4().hex[:8]}"
    asyncio.run(create_database(admin_url, name, exist_ok=False))
    url = database_url(admin_url, name)
    upgrade_head(SCORING_DIR, url)
    return url


async def seed_customers(url: str, customers: int) -> list[str]:
    """Customers the partner already references: the orders name them by its own external ids."""
    refs = [f"C-{i:07d}" for i in range(customers)]
    ids = [uuid.uuid4() for _ in refs]
    conn = await asyncpg.connect(dsn(url))
    try:
        await conn.copy_records_to_table(
            "customers",
            columns=["id", "kind", "display_name", "first_name"],
            records=[(cid, "individual", ref, ref) for ref, cid in zip(refs, ids, strict=True)],
        )
        await conn.copy_records_to_table(
            "customer_refs",
            columns=["partner", "external_id", "customer_id"],
            records=[(PARTNER, ref, cid) for ref, cid in zip(refs, ids, strict=True)],
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return refs


def order_batch(rng: random.Random, refs: list[str], n: int) -> list[dict]:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    orders = []
    for _ in range(n):
        price = Decimal(rng.randint(199, 9999)) / 100
        orders.append(
            {
                "external_id": f"OB-{uuid.uuid4().hex}",
                "customer": {"external_id": rng.choice(refs)},
                "ordered_at": now,
                "currency": "EUR",
                "amount": str(price),
                "payment_method": "card",
                "channel": "web",
                "lines": [{"sku": "SKU-1", "quantity": "1", "unit_price": str(price), "product_line": "line-1"}],
            }
        )
    return orders


class Scoring:
    """The scoring service as a process that can be stopped and started again on the same port."""

    def __init__(self, url: str, secret: str, port: int) -> None:
        self.env = {
            "SCORING_DATABASE_URL": url,
            "SCORING_EVENT_SECRET": secret,
            "SCORING_SUBSCRIBERS": "[]",
            "SCORING_LOG_LEVEL": "WARNING",
        }
        self.port = port
        self.proc: ServerProcess | None = None

    def start(self) -> float:
        """Start it; returns when it is ready, with the monotonic time it began accepting connections."""
        self.proc = ServerProcess("crm_scoring.main:create_app", self.env, port=self.port)
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                listening = time.monotonic()
                break
            if self.proc.proc.poll() is not None:
                raise RuntimeError(f"scoring exited:\n{self.proc.output()[-3000:]}")
            time.sleep(0.02)
        self.proc.wait_ready(timeout=120)
        return listening

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None


# --- the measurement --------------------------------------------------------------------------------


@dataclass
class Pushed:
    last_order: uuid.UUID
    orders: int
    committed: float  # monotonic: the push's response (sent after its commit)
    applied: float | None = None

    @property
    def lag(self) -> float:
        assert self.applied is not None
        return self.applied - self.committed


@dataclass
class Run:
    pushed: list[Pushed] = field(default_factory=list)
    outstanding: collections.OrderedDict[uuid.UUID, Pushed] = field(default_factory=collections.OrderedDict)
    push_errors: int = 0


async def poll_applied(scoring_dsn: str, run: Run, stop: asyncio.Event) -> None:
    """Stamp each push with the moment its last order is visible in scoring's purchases."""
    conn = await asyncpg.connect(scoring_dsn)
    try:
        while not (stop.is_set() and not run.outstanding):
            if run.outstanding:
                window = list(run.outstanding)[:2000]
                rows = await conn.fetch("SELECT order_id FROM purchases WHERE order_id = ANY($1::uuid[])", window)
                now = time.monotonic()
                for r in rows:
                    item = run.outstanding.pop(r["order_id"])
                    item.applied = now
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await conn.close()


async def push_at_rate(
    session: aiohttp.ClientSession,
    base: str,
    refs: list[str],
    run: Run,
    *,
    rate: float,
    batch: int,
    seconds: float,
    rng: random.Random,
    max_in_flight: int = 8,
) -> float:
    """Open loop: request i goes at start + i·batch/rate, at most `max_in_flight` at once. Returns the
    rate achieved (orders/s): lower than asked when the service cannot take it."""
    headers = {**partner_headers(PARTNER, "orders:write"), "Content-Type": "application/json"}
    interval = batch / rate
    slots = asyncio.Semaphore(max_in_flight)
    tasks: list[asyncio.Task[None]] = []
    start = time.monotonic()

    async def one(body: bytes) -> None:
        try:
            call = {**headers, "Idempotency-Key": str(uuid.uuid4())}
            async with session.post(f"{base}/api/v1/orders/batch", data=body, headers=call) as r:
                payload = await r.read()
                if r.status != 200:
                    run.push_errors += 1
                    print(f"  push failed: {r.status} {payload[:200]!r}", flush=True)
                    return
            committed = time.monotonic()
            results = msgspec.json.decode(payload)["results"]
            created = [x for x in results if x["status"] == "created"]
            if created:
                item = Pushed(uuid.UUID(created[-1]["order_id"]), len(created), committed)
                run.pushed.append(item)
                run.outstanding[item.last_order] = item
        finally:
            slots.release()

    i = 0
    while (due := start + i * interval) < start + seconds:
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await slots.acquire()
        body = msgspec.json.encode({"orders": order_batch(rng, refs, batch)})
        tasks.append(asyncio.create_task(one(body)))
        i += 1
    await asyncio.gather(*tasks)
    return i * batch / max(seconds, time.monotonic() - start)


async def applied(items: list[Pushed], within: float) -> None:
    deadline = time.monotonic() + within
    while any(p.applied is None for p in items) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


def lag_figures(items: list[Pushed]) -> str:
    lags = [p.lag for p in items for _ in range(p.orders) if p.applied is not None]
    missing = sum(p.orders for p in items if p.applied is None)
    if not lags:
        return f"no order applied ({missing} missing)"
    text = (
        f"p50 {percentile(lags, 0.50):.2f} s, p95 {percentile(lags, 0.95):.2f} s, max {max(lags):.2f} s "
        f"over {len(lags):,} orders"
    )
    return text + (f" ({missing:,} never applied)" if missing else "")


async def measure(args: argparse.Namespace, customer_url: str, scoring: Scoring, refs: list[str]) -> None:
    run = Run()
    stop = asyncio.Event()
    rng = random.Random(7)
    poller = asyncio.create_task(poll_applied(dsn(scoring.env["SCORING_DATABASE_URL"]), run, stop))
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def push(seconds: float) -> float:
            return await push_at_rate(
                session, customer_url, refs, run, rate=args.rate, batch=args.batch, seconds=seconds, rng=rng
            )

        await push(args.warmup)
        t0 = time.monotonic()
        achieved = await push(args.duration)
        steady = [p for p in run.pushed if p.committed >= t0]
        await applied(steady, 120)  # the outage starts with nothing in flight
        outage_start = time.monotonic()
        if args.outage > 0:
            print(f"stopping scoring for {args.outage:.0f} s while orders keep coming...", flush=True)
            scoring.stop()
            await push(args.outage)
            backlog = [p for p in run.pushed if p.committed >= outage_start]
            restart = time.monotonic()
            pushing = asyncio.create_task(push(args.after))
            back = await asyncio.to_thread(scoring.start)
            ready = time.monotonic()
            waited_for = [p for p in run.pushed if p.committed < back]
            await pushing
        stop.set()
        await asyncio.wait_for(poller, 600)

    await asyncio.sleep(0)
    print(
        f"\nsteady delivery ({args.rate:,.0f} orders/s asked, {achieved:,.0f} taken, in requests of {args.batch}, "
        f"{args.duration:.0f} s):"
    )
    print(f"  lag (commit -> applied in scoring): {lag_figures(steady)}")
    fifth = args.duration / 5
    print(f"  first {fifth:.0f} s: {lag_figures([p for p in steady if p.committed < t0 + fifth])}")
    print(f"  last {fifth:.0f} s: {lag_figures([p for p in steady if p.committed >= t0 + args.duration - fifth])}")
    if args.outage > 0:
        drained = [p.applied for p in waited_for if p.applied is not None]
        print(f"\nsubscriber outage of {args.outage:.0f} s ({sum(p.orders for p in backlog):,} orders held back):")
        print(
            f"  scoring back (accepting connections) {back - restart:.1f} s after its start, "
            f"/readyz 200 {ready - back:.1f} s later"
        )
        if len(drained) == len(waited_for):
            print(f"  caught up (every order committed before it was back applied) {max(drained) - back:.1f} s after")
        else:
            print(f"  NOT caught up: {len(waited_for) - len(drained)} requests still unapplied")
        after = sorted((p for p in run.pushed if p.committed >= back), key=lambda p: p.committed)
        settled = None  # from then on, every order was applied within the threshold
        for p in reversed(after):
            if p.applied is None or p.lag >= args.caught_up_lag:
                break
            settled = p.committed - back
        if settled is not None:
            print(f"  orders delivered within {args.caught_up_lag:.0f} s again from {settled:.1f} s after it was back")
        print(f"  lag of the held-back orders: {lag_figures(backlog)}")
        print(f"  lag of orders after it was back: {lag_figures(after)}")
    print(f"\npush errors: {run.push_errors}")


async def outbox_summary(url: str) -> str:
    conn = await asyncpg.connect(dsn(url))
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS messages, sum(event_count) AS events, max(attempts) AS max_attempts, "
            "count(*) FILTER (WHERE attempts > 0) AS retried, count(*) FILTER (WHERE delivered_at IS NULL) AS open "
            "FROM outbox_messages"
        )
    finally:
        await conn.close()
    return (
        f"outbox: {row['messages']:,} messages ({row['events']:,} events), {row['retried']:,} retried "
        f"(at most {row['max_attempts']} attempts), {row['open']} not delivered"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=5000, help="orders per second pushed")
    parser.add_argument("--batch", type=int, default=100, help="orders per request (one outbox message each)")
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--duration", type=float, default=30, help="seconds of steady delivery measured")
    parser.add_argument("--outage", type=float, default=60, help="seconds the subscriber is down (0: none)")
    parser.add_argument("--after", type=float, default=30, help="seconds of pushing once it is back")
    parser.add_argument("--caught-up-lag", type=float, default=2.0, help="lag under which delivery counts as current")
    parser.add_argument("--service-workers", type=int, default=2, help="uvicorn workers of the customer service")
    args = parser.parse_args()

    secret = secrets.token_hex(24)
    with postgres() as admin_url:
        customer_db = new_database(admin_url, "bench_outbox_customer")
        scoring = Scoring(scoring_database(admin_url), secret, free_port())
        refs = asyncio.run(seed_customers(customer_db, args.customers))
        subscribers = [{"name": "scoring", "url": f"http://127.0.0.1:{scoring.port}/internal/events", "types": ["*"]}]
        customer = ServerProcess(
            "crm_customer.main:create_app",
            {
                "CUSTOMER_DATABASE_URL": customer_db,
                "CUSTOMER_SUBSCRIBERS": json.dumps(subscribers),
                "CUSTOMER_EVENT_SECRET": secret,
                "CUSTOMER_LOG_LEVEL": "WARNING",
            },
            workers=args.service_workers,
        )
        try:
            scoring.start()
            customer.wait_ready(timeout=60)
            print(
                f"pushing {args.rate:,.0f} orders/s in requests of {args.batch} to the customer service "
                f"({args.service_workers} workers), delivered to the scoring service...",
                flush=True,
            )
            asyncio.run(measure(args, customer.url, scoring, refs))
            print(asyncio.run(outbox_summary(customer_db)))
        except Exception:
            print("--- customer service log (tail) ---\n" + customer.output()[-3000:])
            if scoring.proc is not None:
                print("--- scoring service log (tail) ---\n" + scoring.proc.output()[-3000:])
            raise
        finally:
            customer.stop()
            scoring.stop()


if __name__ == "__main__":
    main()
