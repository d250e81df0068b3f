"""Bulk reads of the scores (issue 12, finding 3): the NDJSON export against paging the list, on a table of
`--customers` scores (default 100,000), through a real scoring process.

Fills a migrated scoring database with score rows drawn in SQL (stages, classes, CLV, churn risk, expected
purchases per horizon of one calibration), starts the service as a uvicorn process and times, each `--repeat`
times: the whole export (rows/s, time to the first line, the client decoding every line with the typed
client's msgspec struct), a filtered export (one stage), the list paged 1,000 at a time by id, and one GET per
customer on a sample (what analysts did before). Prints the figures and the server's peak memory; not a test.

    .venv/bin/python bench/scoring/export.py [--customers 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import msgspec

from crm_scoring.main import SERVICE_DIR
from crm_shared.clients.scoring import ScoreRow
from crm_shared.embedded_pg import asyncpg_dsn
from crm_shared.testing import DatabaseFactory, ServerProcess, user_headers

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]
from common import postgres  # noqa: E402

URL = "/api/v1/scores/customers"
HEADERS = user_headers("bench-analyst", "scores:read", service="scoring")
_row = msgspec.json.Decoder(ScoreRow)

FILL = """
INSERT INTO customer_scores (
    customer_id, as_of, first_purchase_at, last_purchase_at, purchase_days, order_count, total_spend, avg_spend,
    spend_12m, monthly_frequency, monthly_avg_spend, tenure_months, recency_days, frequency_trend, spend_trend,
    r, f, m, rfm_segment, abc_class, gold, drag, composite_score, formula_version, p_alive, churn_risk,
    expected_purchases, expected_spend, clv, calibration_id, stage, stage_reason, stage_since)
SELECT gen_random_uuid(), now(), now() - interval '700 days', now() - (u * 300)::int * interval '1 day',
    1 + (u * 20)::int, 1 + (u * 25)::int, round((u * 5000)::numeric, 2), round((u * 200)::numeric, 2),
    round((u * 1500)::numeric, 2), u, round((u * 90)::numeric, 2), 23.0, (u * 300)::int, 0, 0,
    1 + (u * 5)::int % 5, 1 + (v * 5)::int % 5, 1 + (u * v * 5)::int % 5,
    (ARRAY['champions', 'loyal', 'at_risk', 'lost', 'new_customers'])[1 + (v * 5)::int % 5],
    (ARRAY['A', 'B', 'C'])[1 + (v * 3)::int % 3], v < 0.1, v > 0.8, round((u * 100)::numeric, 2), NULL,
    1 - u, u, ARRAY[u * 2, u * 6], round((u * 400)::numeric, 2), round((u * 900)::numeric, 2), $2,
    (ARRAY['introduction', 'growth', 'maturity', 'decline', 'churned'])[1 + (v * 5)::int % 5], 'bench', now()
FROM (SELECT random() AS u, random() AS v FROM generate_series(1, $1)) AS draws
"""


async def fill(url: str, customers: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        calibration = await conn.fetchval(
            "INSERT INTO calibrations (as_of, fits, cuts, rules) VALUES (now(), '{}', '{}', "
            """'{"clv": {"horizons_days": [90, 365]}}') RETURNING id"""
        )
        await conn.execute(FILL, customers, calibration)
        await conn.execute("VACUUM ANALYZE customer_scores")
    finally:
        await conn.close()


async def export(http: httpx.AsyncClient, params: dict[str, str], *, decode: bool = True) -> tuple[int, float, float]:
    """(rows, seconds, seconds to the first bytes) of one streamed export, every line decoded into the typed
    client's struct (or, `decode` false, only counted: the server's and the transport's share)."""
    start = time.perf_counter()
    first, rows, rest = 0.0, 0, b""
    async with http.stream("GET", f"{URL}/export", params=params) as response:
        response.raise_for_status()
        async for chunk in response.aiter_bytes():
            first = first or time.perf_counter() - start
            if not decode:
                rows += chunk.count(b"\n")
                continue
            *lines, rest = (rest + chunk).split(b"\n")  # a chunk may end inside a line
            rows += sum(1 for _ in map(_row.decode, lines))
    return rows, time.perf_counter() - start, first


async def paged(http: httpx.AsyncClient) -> tuple[int, float]:
    start, rows, cursor = time.perf_counter(), 0, None
    while True:
        params = {"limit": "1000", "sort": "customer_id", **({"cursor": cursor} if cursor else {})}
        body = (await http.get(URL, params=params)).raise_for_status().json()
        rows += len(body["items"])
        if not (cursor := body["next_cursor"]):
            return rows, time.perf_counter() - start


async def one_by_one(http: httpx.AsyncClient, ids: list[uuid.UUID]) -> float:
    start = time.perf_counter()
    for c in ids:
        (await http.get(f"{URL}/{c}")).raise_for_status()
    return time.perf_counter() - start


def memory_mb(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure(base_url: str, db_url: str, repeat: int, sample: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        ids = [r[0] for r in await conn.fetch("SELECT customer_id FROM customer_scores LIMIT $1", sample)]
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=base_url, headers=HEADERS, timeout=300) as http:
        await export(http, {"stage": "churned"})  # warm-up
        cases: list[tuple[str, dict[str, str], bool]] = [
            ("export, all", {}, True),
            ("export, all, not decoded", {}, False),
            ("export, stage=maturity", {"stage": "maturity"}, True),
        ]
        for name, params, decode in cases:
            for _ in range(repeat):
                rows, seconds, first = await export(http, params, decode=decode)
                rate = f"{rows / seconds:>9,.0f} rows/s"
                print(f"{name:28} {rows:>9,} rows {seconds:7.2f} s {rate} first line {first * 1000:6.1f} ms")
        for _ in range(repeat):
            rows, seconds = await paged(http)
            print(f"{'list, 1,000 a page':28} {rows:>9,} rows {seconds:7.2f} s {rows / seconds:>9,.0f} rows/s")
        seconds = await one_by_one(http, ids)
        print(f"{'one GET per customer':28} {len(ids):>9,} rows {seconds:7.2f} s {len(ids) / seconds:>9,.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=500, help="customers read one GET at a time")
    args = parser.parse_args()
    with postgres() as admin_url:
        db_url = asyncio.run(DatabaseFactory(admin_url).fresh(SERVICE_DIR))
        start = time.perf_counter()
        asyncio.run(fill(db_url, args.customers))
        print(f"filled {args.customers:,} score rows in {time.perf_counter() - start:.1f} s")
        env = {"SCORING_DATABASE_URL": db_url, "SCORING_SUBSCRIBERS": "[]", "SCORING_LOG_LEVEL": "WARNING"}
        with ServerProcess("crm_scoring.main:create_app", env) as server:
            server.wait_ready()
            ready = memory_mb(server.proc.pid, "VmRSS")
            asyncio.run(measure(server.url, db_url, args.repeat, args.sample))
            peak = memory_mb(server.proc.pid, "VmHWM")
            print(f"scoring process RSS {ready:.0f} MB when ready, peak {peak:.0f} MB")
    client_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"bench client peak RSS {client_mb:.0f} MB (cpus: {os.cpu_count()})")


if __name__ == "__main__":
    main()
