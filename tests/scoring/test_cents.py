"""Scores' money staged in cents: rounded in NumPy exactly as PostgreSQL rounds round(float8::numeric, 2)."""

import asyncpg
import numpy as np

from crm_scoring.compute.cents import NO_CENTS, cents


async def test_cents_match_postgresql_rounding(db: asyncpg.Connection) -> None:
    rng = np.random.default_rng(1)
    whole = rng.integers(0, 10**9, 20_000)
    values = np.concatenate(
        [
            whole / 100.0 / rng.integers(1, 13, 20_000),  # averages of cents
            (whole[:5_000] + 0.5) / 100.0,  # half cents, most not exact in binary
            np.cumsum(rng.integers(0, 10**5, 5_000)) / 100.0 * 1.1,  # converted sums
            rng.normal(0, 1_000, 5_000),
            # 1.015 is 1.01499999999999990... in binary but "1.015" in 15 digits: PostgreSQL rounds it up
            [1.005, 1.015, 2.675, 10.125, -1.005, -2.675, 0.125, 0.005, 0.00499999999999999, 0.0, -0.0],
            [123_456_789.125, 1e11 + 0.005, 99_999_999_999.995, 999_999_999_999.995],
            [1e12, 1e13, -1e13 - 0.5, 123_456_789_012_345.67, 2.5e15 + 1, 9.0e16],  # beyond 15 digits
        ]
    )
    rows = await db.fetch(
        "SELECT (round(x::numeric, 2) * 100)::int8 AS c FROM unnest($1::float8[]) AS x", values.tolist()
    )
    assert cents(values).tolist() == [r["c"] for r in rows]
    assert cents(np.array([1.015, 2.675]))[:2].tolist() == [102, 268]


def test_no_figure() -> None:
    assert cents(np.array([np.nan, 1.0])).tolist() == [NO_CENTS, 100]
