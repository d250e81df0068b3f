"""Gateway overhead: the same database-touching requests direct to the customer service and through
the gateway, in one run, under concurrent load (see bench/README.md)."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import aiohttp
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import percentile, postgres, suite

from crm_shared.testing import partner_headers

HERE = Path(__file__).resolve().parent

# What the gateway would send for the bench partner's key: a signed principal token.
PRINCIPAL = partner_headers("bench-partner", "customers:read", "customers:write", "orders:read", "orders:write")
_counter = itertools.count()


def order_body(customer_ref: str) -> bytes:
    n = next(_counter)
    return msgspec.json.encode(
        {
            "external_id": f"GW-{uuid.uuid4().hex[:12]}-{n}",
            "customer": {"external_id": customer_ref},
            "ordered_at": "2026-11-20T10:15:00Z",
            "currency": "EUR",
            "amount": "42.50",
            "payment_method": "card",
            "channel": "web",
            "lines": [{"sku": "TEA-01", "quantity": "1", "unit_price": "42.50"}],
        }
    )


async def load(
    base: str,
    auth: dict[str, str],
    make: Callable[[], tuple[str, str, bytes | None]],
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
) -> tuple[float, list[float], int]:
    """Closed loop: `concurrency` clients send back to back for `seconds` after a warm-up."""
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client(stop: float, record: bool) -> None:
            nonlocal errors
            while time.perf_counter() < stop:
                method, path, body = make()
                headers = dict(auth)
                if body is not None:
                    headers["Idempotency-Key"] = str(uuid.uuid4())
                    headers["Content-Type"] = "application/json"
                t0 = time.perf_counter()
                async with session.request(method, base + path, data=body, headers=headers) as r:
                    await r.read()
                    ok = r.status < 300
                if record:
                    latencies.append(time.perf_counter() - t0)
                    errors += not ok

        await asyncio.gather(*(client(time.perf_counter() + warmup, False) for _ in range(concurrency)))
        start = time.perf_counter()
        await asyncio.gather(*(client(start + seconds, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return len(latencies) / elapsed, latencies, errors


def wrk_load(
    base: str,
    auth: dict[str, str],
    script: str,
    env: dict[str, str],
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
) -> tuple[float, float, float, int]:
    """The same closed loop driven by wrk (C): it spends far less CPU per request than a Python client,
    so on a 2-core machine the figures measure the servers, not the load generator."""
    headers = [arg for name, value in auth.items() for arg in ("-H", f"{name}: {value}")]
    base_cmd = ["wrk", "-t2", f"-c{concurrency}", "-s", str(HERE / script), *headers]
    run_env = {**os.environ, **env}
    if warmup:
        subprocess.run([*base_cmd, f"-d{max(1, round(warmup))}s", base], env=run_env, capture_output=True, check=True)
    out = subprocess.run(
        [*base_cmd, f"-d{round(seconds)}s", "--latency", base], env=run_env, capture_output=True, text=True, check=True
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _wrk_ms(re.search(r"\s50%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    p99 = _wrk_ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)) else 0
    return rate, p50, p99, errors


def _wrk_ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


async def seed(base: str, n: int) -> list[tuple[str, str]]:
    """Customers to read and to order for: (customer id, partner reference)."""
    out = []
    async with aiohttp.ClientSession() as session:
        for i in range(n):
            ref = f"GWC-{i}"
            body = msgspec.json.encode(
                {
                    "first_name": "Bench",
                    "last_name": str(i),
                    "external_refs": [{"partner": "bench-partner", "external_id": ref}],
                }
            )
            headers = {**PRINCIPAL, "Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"}
            async with session.post(base + "/api/v1/customers", data=body, headers=headers) as r:
                out.append((msgspec.json.decode(await r.read())["id"], ref))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--service-workers", type=int, default=1)
    parser.add_argument("--gateway-workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="direct/gateway alternations; medians are printed")
    parser.add_argument(
        "--tool",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="load generator: wrk when installed (apt-get install wrk), else Python/aiohttp",
    )
    args = parser.parse_args()
    use_wrk = args.tool == "wrk" or (args.tool == "auto" and shutil.which("wrk") is not None)

    with (
        postgres() as admin_url,
        suite(admin_url, service_workers=args.service_workers, gateway_workers=args.gateway_workers) as s,
    ):
        customers = asyncio.run(seed(s.service.url, 200))
        cycle = itertools.cycle(customers)
        scenarios = {
            "customer read": ("wrk_read.lua", lambda: ("GET", f"/api/v1/customers/{next(cycle)[0]}", None)),
            "order write": ("wrk_write.lua", lambda: ("POST", "/api/v1/orders", order_body(next(cycle)[1]))),
        }
        wrk_env = {
            "CUSTOMER_IDS": ",".join(c for c, _ in customers),
            "CUSTOMER_REFS": ",".join(r for _, r in customers),
        }
        targets = {
            "direct": (s.service.url, PRINCIPAL),
            "gateway": (s.gateway.url, {"Authorization": f"Bearer {s.api_key}"}),
        }
        print(
            f"load: {'wrk' if use_wrk else 'python/aiohttp'}, {args.concurrency} connections, {args.seconds:.0f} s "
            f"per measurement, {args.rounds} alternating rounds (medians), service workers {args.service_workers}, "
            f"gateway workers {args.gateway_workers}"
        )
        print(f"{'scenario':<14} {'path':<8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        for name, (script, make) in scenarios.items():
            runs: dict[str, list[tuple[float, float, float, int]]] = {t: [] for t in targets}
            for _ in range(args.rounds):
                for target, (base, auth) in targets.items():
                    if use_wrk:
                        runs[target].append(
                            wrk_load(
                                base,
                                auth,
                                script,
                                wrk_env,
                                concurrency=args.concurrency,
                                seconds=args.seconds,
                                warmup=args.warmup,
                            )
                        )
                    else:
                        rate, lat, errors = asyncio.run(
                            load(
                                base, auth, make, concurrency=args.concurrency, seconds=args.seconds, warmup=args.warmup
                            )
                        )
                        runs[target].append((rate, percentile(lat, 0.5) * 1e3, percentile(lat, 0.99) * 1e3, errors))
            med = {
                t: (*(statistics.median(r[i] for r in rs) for i in range(3)), sum(r[3] for r in rs))
                for t, rs in runs.items()
            }
            for target, (rate, p50, p99, errors) in med.items():
                print(f"{name:<14} {target:<8} {rate:>9,.0f} {p50:>8.2f} {p99:>8.2f} {errors:>7}")
            (d_rate, d_p50, _, _), (g_rate, g_p50, _, _) = med["direct"], med["gateway"]
            print(
                f"{name:<14} ratio    gateway keeps {g_rate / d_rate:.0%} of direct req/s (target >= 70%), "
                f"p50 {g_p50 / d_p50 - 1:+.0%} (target <= +15%)"
            )


if __name__ == "__main__":
    main()
