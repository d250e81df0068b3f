"""The client side of the batch's fill (issue 12: batch 1M customers / 10M orders under 30 s): every stored
column of the scored customers made in NumPy and packed into binary COPY rows (compute/stored.py), as the
batch's fill does per connection, in chunks of `--chunk` rows.

Synthesized in memory, no database: `--customers` scored rows (default 1M) with the batch's mix of lifecycle
rules (most customers churned on P(alive), one in ten without a trend, a few without purchases or model
outputs). Prints the seconds and CPU seconds per million rows, the bytes per row, how many distinct reason
texts were made, and each step's share (stored forms, reasons, packing). Not a test.

    flock /tmp/heavy.lock .venv/bin/python bench/scoring/encode_speed.py [--customers 1000000] [--chunk 100000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from crm_scoring.batch.memory import map_large_allocations
from crm_scoring.compute import stored
from crm_scoring.compute.binary_copy import Field, encode_rows
from crm_scoring.rules.schemas import Rules

RULES = (1, 2, 3, 4, 5, 6, 7, 8, 9)
RULE_SHARES = (0.07, 0.06, 0.55, 0.01, 0.12, 0.03, 0.09, 0.02, 0.05)  # as a 1M-customer bench base scores


def synthesize(rows: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    bought = rng.random(rows) > 0.01
    modelled = bought & (rng.random(rows) > 0.005)

    def gaps(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
        return np.where(keep, values, np.nan)

    return {
        "customer_id": np.frombuffer(rng.bytes(16 * rows), dtype="V16"),
        "n_days": np.where(bought, rng.integers(1, 30, rows), 0).astype(np.int32),
        "n_orders": np.where(bought, rng.integers(1, 40, rows), 0).astype(np.int32),
        "first_at": gaps(rng.uniform(1.6e9, 1.7e9, rows), bought),
        "last_at": gaps(rng.uniform(1.7e9, 1.76e9, rows), bought),
        "total": np.where(bought, rng.gamma(2, 400, rows).round(2), 0.0),
        "avg_spend": gaps(rng.gamma(2, 40, rows), bought),
        "spend_12m": rng.gamma(1, 200, rows).round(2),
        "monthly_frequency": gaps(rng.random(rows), bought),
        "monthly_avg_spend": gaps(rng.gamma(2, 20, rows), bought),
        "tenure_months": gaps(rng.uniform(0, 36, rows), bought),
        "recency_days": np.where(bought, rng.integers(0, 1100, rows), -1).astype(np.int32),
        "frequency_trend": gaps(rng.normal(-0.3, 0.5, rows), rng.random(rows) > 0.1),
        "spend_trend": gaps(rng.normal(-0.3, 0.6, rows), rng.random(rows) > 0.1),
        "r": rng.integers(1, 6, rows).astype(np.int16),
        "f": rng.integers(1, 6, rows).astype(np.int16),
        "m": rng.integers(1, 6, rows).astype(np.int16),
        "segment": rng.integers(-1, 11, rows).astype(np.int16),
        "abc": rng.integers(1, 4, rows).astype(np.int16),
        "gold": rng.random(rows) < 0.2,
        "drag": rng.random(rows) < 0.6,
        "composite": rng.uniform(0, 100, rows),
        "formula_version": np.full(rows, 1, dtype=np.int32),
        "p_alive": gaps(rng.beta(0.5, 2, rows), modelled),
        "churn_risk": gaps(rng.random(rows), modelled),
        "exp_0": gaps(rng.exponential(0.3, rows), modelled),
        "exp_1": gaps(rng.exponential(1.2, rows), modelled),
        "expected_spend": gaps(rng.gamma(2, 40, rows), modelled),
        "clv": gaps(rng.gamma(1, 150, rows), modelled),
        "stage": rng.integers(0, 5, rows).astype(np.int16),
        "stage_rule": rng.choice(RULES, rows, p=RULE_SHARES).astype(np.int16),
        "stage_since": rng.integers(8 * 10**17, 8 * 10**17 + 10**14, rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=50_000, help="rows per COPY chunk (SCORING_BATCH_WRITE_CHUNK)")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    map_large_allocations()  # as the batch runs
    scored = synthesize(args.customers, args.seed)
    context = stored.Context(8 * 10**17, 7, [f"segment {i}" for i in range(11)], Rules())
    steps = {"reasons": 0.0, "stored forms": 0.0, "packing": 0.0}
    size = 0
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, args.customers, args.chunk):
        chunk = {k: v[start : start + args.chunk] for k, v in scored.items()}
        t = time.perf_counter()
        reasons = stored.reasons_of(chunk, context)
        steps["reasons"] += time.perf_counter() - t
        for piece_start in range(0, len(chunk["customer_id"]), stored.ENCODE_ROWS):
            end = piece_start + stored.ENCODE_ROWS
            piece = {k: v[piece_start:end] for k, v in chunk.items()}
            given = Field(reasons.data[piece_start:end], reasons.length[piece_start:end])
            t = time.perf_counter()
            fields = stored.fields(piece, context, stored.COLUMNS, given)
            steps["stored forms"] += time.perf_counter() - t
            t = time.perf_counter()
            size += len(encode_rows(fields))
            steps["packing"] += time.perf_counter() - t
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    per_million = 1e6 / args.customers
    print(f"{args.customers:,} scored rows, chunks of {args.chunk:,}, pieces of {stored.ENCODE_ROWS:,}:")
    rate = f"{seconds * per_million:.2f} s per million rows ({cpu * per_million:.2f} s CPU)"
    print(f"  {rate}, {size / args.customers:.0f} bytes a row")
    print(f"  {len(context.reasons):,} distinct reason texts made")
    for name, value in steps.items():
        print(f"  {name}: {value * per_million:.2f} s per million ({value / seconds:.0%})")


if __name__ == "__main__":
    main()
