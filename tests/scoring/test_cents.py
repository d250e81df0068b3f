"""Scores' money staged in cents: rounded in NumPy exactly as PostgreSQL rounds round(float8::numeric, 2)."""

from decimal import Decimal

import asyncpg
import numpy as np

from crm_scoring.compute.binary_copy import copy_in
from crm_scoring.compute.cents import NO_CENTS, cents, numeric_binary


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


async def test_binary_numerics_store_the_cents_exactly(db):
    """Staged money in the fixed six-digit binary form (cents.numeric_binary) reads back as the same figures,
    any int64 of cents, NaN for none, with the scale of numeric(_, 2)."""
    figures = [0, 1, -1, 99, 100, 12_345, -12_345, 999_999_999_999, -100_000_000_000, 10**14 - 1, 10**14]
    figures += [2**63 - 1, -(2**63) + 2, 123_456_789_012_345_678, NO_CENTS]
    await db.execute("CREATE TEMP TABLE staged_money (v numeric)")
    await copy_in(db, "staged_money", (("v", "numeric"),), {"v": numeric_binary(np.array(figures, dtype=np.int64))})
    rows = [r[0] for r in await db.fetch("SELECT v FROM staged_money")]
    expected = [Decimal(c) / 100 for c in figures[:-1]]
    assert rows[:-1] == expected
    assert [str(r) for r in rows[:-1]] == [f"{d:.2f}" for d in expected]
    assert rows[-1].is_nan()
    assert await db.fetchval("SELECT count(*) FROM staged_money WHERE NULLIF(v, 'NaN') IS NULL") == 1
