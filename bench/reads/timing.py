"""Timing the reads through the gateway (bench/reads): a read (`Case`) asked `repeat` times after two warm-ups,
deep pages started at a position found in the database, and the report, worst p95 first."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import msgspec
from common import percentile  # bench/common.py (the caller puts bench/ on sys.path)

GOAL_MS = 100.0


# --- cursors at depth -------------------------------------------------------------------------------------


def deepen(cursor: str, position: list[Any], secret: str) -> str:
    """The service's cursor moved to `position` (same filter binding), signed as the service signs it."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    payload = msgspec.json.decode(raw[:-12])
    body = msgspec.json.encode({"p": position, "f": payload["f"]}, enc_hook=str)
    mac = hmac.new(secret.encode(), body, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")


@dataclass
class Case:
    name: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    auth: str = "staff"  # or a partner client id
    # Deep page: (database, SQL returning the position row at OFFSET $1, service env prefix of the secret)
    deep: tuple[str, str, str] | None = None
    depth: int | None = None  # rows deep; default --deep
    durations: list[float] = field(default_factory=list)
    status: int = 0


async def time_cases(
    base_url: str,
    items: list[Case],
    headers: Callable[[str], dict[str, str]],
    dsns: dict[str, str],
    *,
    repeat: int,
    deep: int,
) -> None:
    conns = {name: await asyncpg.connect(dsn) for name, dsn in dsns.items()}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:

            async def get(case: Case, params: dict[str, str]) -> tuple[int, Any]:
                async with http.get(base_url + case.path, params=params, headers=headers(case.auth)) as r:
                    body = await r.read()
                    if r.status == 200 and r.content_type == "application/json":
                        return r.status, msgspec.json.decode(body)
                    return r.status, body[:300]

            for case in items:
                params = dict(case.params)
                if case.deep:
                    database, sql, prefix = case.deep
                    status, first = await get(case, params)
                    depth = case.depth or deep
                    position = await conns[database].fetchrow(f"{sql} OFFSET $1 LIMIT 1", depth)
                    if status != 200 or not first.get("next_cursor") or position is None:
                        print(f"  {case.name}: cannot go {depth:,} deep ({status})", flush=True)
                        case.status = status
                        continue
                    cursor = deepen(first["next_cursor"], list(position.values()), os.environ[f"{prefix}CURSOR_SECRET"])
                    params["cursor"] = cursor
                    case.name += f" ({depth:,} rows)"
                for i in range(repeat + 2):  # two warm-ups
                    t0 = time.perf_counter()
                    status, body = await get(case, params)
                    if i >= 2:
                        case.durations.append((time.perf_counter() - t0) * 1000)
                    case.status = status
                if case.status != 200:
                    print(f"  {case.name}: HTTP {case.status} {body!r}", flush=True)
    finally:
        for conn in conns.values():
            await conn.close()


def report(items: list[Case]) -> None:
    timed = [c for c in items if c.durations]
    timed.sort(key=lambda c: percentile(c.durations, 0.95), reverse=True)
    print(f"\n{'read (through the gateway)':<60} {'p50 ms':>8} {'p95 ms':>8}  status")
    for c in timed:
        p95 = percentile(c.durations, 0.95)
        flag = "" if p95 < GOAL_MS else f"  over {GOAL_MS:.0f} ms"
        print(f"{c.name:<60} {percentile(c.durations, 0.5):8.1f} {p95:8.1f}  {c.status}{flag}")
    over = [c for c in timed if percentile(c.durations, 0.95) >= GOAL_MS]
    print(f"\n{len(timed)} reads timed; {len(over)} over the {GOAL_MS:.0f} ms p95 goal")
