"""`make demo`: sample data for a running suite (`make run` in another terminal).

Pushes a few thousand customers with a realistic purchase history through the partner API, as a shop
would (POST /api/v1/orders/batch with the sample partner key), opens a few complaints as a support agent
would, then recomputes the scores, so that scores, lifecycle stages, churn reports, the watchlist and
campaign segments have something to show. Deterministic for a seed and a day; orders are identified by
their external ids, so a second run adds nothing twice.

    python -m tools.demo [--customers 3000] [--seed 7] [--url http://127.0.0.1:8000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from crm_shared.launcher import dev_token

from .history import DemoCustomer, generate, orders_by_time

BATCH = 2500  # orders per request (the API takes up to 5,000)
PARTNER = "sample-partner"  # the client id of the key `make run` prints


def push_orders(partner: httpx.Client, orders: list[dict[str, Any]], key: str) -> dict[str, int]:
    totals = {"created": 0, "duplicates": 0, "rejected": 0}
    for start in range(0, len(orders), BATCH):
        chunk = orders[start : start + BATCH]
        r = partner.post("/api/v1/orders/batch", json={"orders": chunk}, headers={"Idempotency-Key": f"{key}-{start}"})
        if r.status_code >= 300:
            raise SystemExit(f"batch at {start} refused: {r.status_code} {r.text[:500]}")
        result = r.json()
        for name in totals:
            totals[name] += result[name]
        for row in result["results"]:
            if row["status"] == "rejected":
                print(f"  rejected {row['external_id']}: {row['errors']}", file=sys.stderr)
        print(f"  orders {start + len(chunk):>6}/{len(orders)}", flush=True)
    return totals


def open_complaints(admin: httpx.Client, customers: list[DemoCustomer]) -> int:
    opened = 0
    for customer in (c for c in customers if c.complaints):
        found = admin.get("/api/v1/customers", params={"partner": PARTNER, "external_id": customer.external_id})
        items = found.json().get("items", []) if found.status_code == 200 else []
        if not items:
            print(f"  {customer.external_id} not found ({found.status_code}); complaint skipped", file=sys.stderr)
            continue
        customer_id = items[0]["id"]
        if admin.get("/api/v1/complaints", params={"customer_id": customer_id, "limit": 1}).json().get("items"):
            continue  # opened by an earlier run
        for n, complaint in enumerate(customer.complaints):
            r = admin.post(
                "/api/v1/complaints",
                json={**complaint, "customer_id": customer_id},
                headers={"Idempotency-Key": f"demo-complaint-{customer.external_id}-{n}"},
            )
            if r.status_code >= 300:
                raise SystemExit(f"complaint for {customer.external_id} refused: {r.status_code} {r.text[:500]}")
            opened += 1
    return opened


def recompute_scores(admin: httpx.Client, timeout: float = 900.0) -> dict[str, Any]:
    r = admin.post("/api/v1/scores/recompute", json={}, headers={"Idempotency-Key": f"demo-recompute-{time.time()}"})
    if r.status_code == 409:
        print("  a run is already under way; not starting another", flush=True)
        return {"status": "running"}
    if r.status_code != 202:
        raise SystemExit(f"recompute refused: {r.status_code} {r.text[:500]}")
    location = r.headers["location"]
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = r.json()
    while run["status"] == "running" and time.monotonic() < deadline:
        time.sleep(2)
        run = admin.get(location).json()
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the gateway of the running suite")
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=Path(".data"), help="where `make run` keeps its credentials")
    parser.add_argument("--no-scores", action="store_true", help="skip the score recompute at the end")
    args = parser.parse_args(argv)

    credentials = args.data_dir / "dev-credentials.json"
    if not credentials.exists():
        print(f"{credentials} not found: start the suite with `make run` first", file=sys.stderr)
        return 1
    creds = json.loads(credentials.read_text())
    try:
        httpx.get(f"{args.url}/readyz", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        print(f"the suite at {args.url} is not ready ({exc}): start it with `make run`", file=sys.stderr)
        return 1

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)  # the same data all day
    customers = generate(args.customers, seed=args.seed, now=today)
    orders = orders_by_time(customers)
    print(f"{len(customers)} customers, {len(orders)} orders (seed {args.seed}, up to {today:%Y-%m-%d})", flush=True)
    timeout = httpx.Timeout(300.0, connect=10.0)
    with (
        httpx.Client(
            base_url=args.url, headers={"Authorization": f"Bearer {creds['api_key']}"}, timeout=timeout
        ) as partner,
        httpx.Client(
            base_url=args.url, headers={"Authorization": f"Bearer {dev_token(creds, 'admin')}"}, timeout=timeout
        ) as admin,
    ):
        started = time.monotonic()
        totals = push_orders(partner, orders, key=f"demo-{args.seed}-{args.customers}-{today:%Y%m%d}")
        print(f"  {totals} in {time.monotonic() - started:.1f} s", flush=True)
        print(f"  complaints opened: {open_complaints(admin, customers)}", flush=True)
        if not args.no_scores:
            print("recomputing scores (lifecycle stages, churn risk)...", flush=True)
            run = recompute_scores(admin)
            print(f"  run {run.get('id')}: {run['status']}", flush=True)
    personas: dict[str, int] = {}
    for c in customers:
        personas[c.persona] = personas.get(c.persona, 0) + 1
    print(f"\npersonas: {personas}")
    print("Churn records follow by events within a minute or two. Try, with TOKEN=$(make -s token ROLE=analyst):")
    paths = (
        "/api/v1/scores/distributions/lifecycle",
        "/api/v1/scores/distributions/abc",
        "/api/v1/churn/watchlist?limit=5",
        "/api/v1/churn/reports/profit-lost",
    )
    for path in paths:
        print(f'  curl -s -H "Authorization: Bearer $TOKEN" {args.url}{path}')
    return 0


if __name__ == "__main__":
    sys.exit(main())
