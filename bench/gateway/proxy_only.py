"""Measure what the gateway costs: the same trivial endpoint called directly and through the gateway.

Starts a trivial upstream (uvicorn, 1 worker) and the gateway (uvicorn, 1 worker, uvloop + httptools)
as separate processes on loopback, drives each with a bounded aiohttp load generator and prints
requests/s, p50 and p99 latency for both, and the ratio.

    .venv/bin/python bench/gateway/proxy_only.py [--duration 10] [--concurrency 64] [--upstream fastapi|raw]

The load generator shares the machine's cores with the servers, so absolute numbers depend on it;
the ratio is the figure to compare between changes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from crm_shared.auth import new_secret

PATH = "/api/v1/customers/ping"
BODY = b'{"status":"ok","id":42}'


# --- the trivial upstream --------------------------------------------------------------------------


def fastapi_upstream() -> Any:
    from fastapi import FastAPI, Response

    app = FastAPI()

    @app.get(PATH)
    async def ping() -> Response:
        return Response(BODY, media_type="application/json")

    return app


async def raw_upstream(
    scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]
) -> None:
    """The cheapest possible ASGI endpoint, to see the gateway's own ceiling."""
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


def serve_upstream(port: int, kind: str) -> None:
    import uvicorn

    app = fastapi_upstream() if kind == "fastapi" else raw_upstream
    uvicorn.run(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", access_log=False, log_level="warning"
    )


# --- processes -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def start_upstream(kind: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve-upstream", str(port), "--upstream", kind])
    wait_listening(port, proc)
    return proc, port


def start_gateway(upstream_port: int, api_key_config: dict, extra_env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {
        **os.environ,
        "GATEWAY_SERVICES": json.dumps({"customer": f"http://127.0.0.1:{upstream_port}"}),
        "GATEWAY_API_KEYS": json.dumps([api_key_config]),
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_RATE_LIMIT": "100000000/minute",  # measured, not hit: the limiter's cost stays in
        # The settings the gateway refuses to start without (no JWT is sent: the partner key is the caller).
        "GATEWAY_JWT_SECRET": new_secret(),
        "GATEWAY_JWT_AUDIENCE": "crm-bench",
        "GATEWAY_JWT_ISSUER": "crm-bench",
        "GATEWAY_PRINCIPAL_KEYS": json.dumps([new_secret()]),
        **extra_env,
    }
    cmd = [
        sys.executable, "-m", "uvicorn", "--factory", "crm_gateway.main:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env)
    wait_listening(port, proc)
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- the load generator ----------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux), to report CPU per request next to throughput."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(
    url: str, headers: dict[str, str], *, concurrency: int, duration: float, warmup: float, pids: dict[str, int]
) -> dict:
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker(until: float, record: bool) -> None:
            nonlocal errors
            while (started := time.perf_counter()) < until:
                async with session.get(url) as response:
                    await response.read()
                if record:
                    latencies.append(time.perf_counter() - started)
                    errors += response.status != 200

        end = time.perf_counter() + warmup
        await asyncio.gather(*(worker(end, False) for _ in range(concurrency)))
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        loadgen_before = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(worker(started + duration, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        cpu["loadgen"] = time.process_time() - loadgen_before
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        **{f"{name}_cpu_us_per_request": seconds / len(latencies) * 1e6 for name, seconds in cpu.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per target")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--upstream", choices=("fastapi", "raw"), default="fastapi")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra gateway setting, e.g. GATEWAY_RATE_LIMIT=",
    )
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream, args.upstream)
        return

    import uvloop

    from crm_shared.auth import generate_api_key

    key, key_id, hashed = generate_api_key()
    key_config = {"id": key_id, "hash": hashed, "client_id": "bench", "scopes": ["customers:read"]}
    upstream, upstream_port = start_upstream(args.upstream)
    extra_env = dict(item.split("=", 1) for item in args.env)
    gateway, gateway_port = start_gateway(upstream_port, key_config, extra_env)
    results: dict[str, dict] = {}
    try:
        options = {"concurrency": args.concurrency, "duration": args.duration, "warmup": args.warmup}
        pids = {"upstream": upstream.pid}
        for name, port, headers in (
            ("direct", upstream_port, {}),
            ("gateway", gateway_port, {"Authorization": f"Bearer {key}"}),
        ):
            url = f"http://127.0.0.1:{port}{PATH}"
            results[name] = uvloop.run(drive(url, headers, **options, pids=pids))
            pids["gateway"] = gateway.pid
    finally:
        stop(gateway)
        stop(upstream)

    setup = f"{args.upstream} upstream, {args.concurrency} concurrent, {args.duration:.0f} s per target"
    print(f"\n{setup}, {os.cpu_count()} cores {' '.join(args.env)}")
    print(f"{'target':<10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}  CPU us/request")
    for name, r in results.items():
        cpu = ", ".join(f"{k.split('_')[0]} {v:.0f}" for k, v in r.items() if k.endswith("_cpu_us_per_request"))
        print(f"{name:<10}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['errors']:>8}  {cpu}")
    print(f"gateway/direct throughput: {results['gateway']['rps'] / results['direct']['rps']:.2f}")
    print(json.dumps({"upstream": args.upstream, "concurrency": args.concurrency, **results}))


if __name__ == "__main__":
    main()
