"""Scores in their stored forms, made on the client (compute/stored.py, compute/reasons.py) and sent by binary
COPY: what PostgreSQL stores is what its own functions make of the same figures (to_timestamp, round to
numeric, float8 and numeric output in the reason texts), with NULLs, texts of every length and arrays."""

import uuid
from datetime import UTC, datetime

import asyncpg
import numpy as np
import pytest

from crm_scoring.compute.binary_copy import Field, binary_timestamp, copy_stream, encode_rows, frame
from crm_scoring.compute.reasons import stage_reasons
from crm_scoring.compute.stored import COLUMNS, Context, copy_rows, staging_ddl
from crm_scoring.rules.schemas import Rules

AS_OF = datetime(2026, 6, 30, 12, tzinfo=UTC)


def _scored(rows: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Figures as the scoring makes them, with every kind of gap: no purchase, no model output, no trend, no
    segment, an expected purchase without a figure."""
    rng = np.random.default_rng(seed)
    ids = np.frombuffer(rng.bytes(16 * rows), dtype="V16")
    bought = rng.random(rows) > 0.1
    modelled = bought & (rng.random(rows) > 0.1)

    def gaps(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
        return np.where(keep, values, np.nan)

    exp_1 = gaps(rng.exponential(2, rows), modelled)
    exp_1[np.flatnonzero(modelled)[:3]] = np.nan  # an element without a figure: a NULL inside the array
    return {
        "customer_id": ids,
        "n_days": np.where(bought, rng.integers(1, 40, rows), 0).astype(np.int32),
        "n_orders": np.where(bought, rng.integers(1, 60, rows), 0).astype(np.int32),
        "first_at": gaps(rng.uniform(1.5e9, 1.7e9, rows), bought),
        "last_at": gaps(rng.uniform(1.5e9, 1.78e9, rows), bought),
        "total": np.where(bought, rng.lognormal(5, 2, rows), 0.0),
        "avg_spend": gaps(rng.lognormal(3, 1, rows), bought),
        "spend_12m": rng.lognormal(3, 2, rows),
        "monthly_frequency": gaps(rng.random(rows), bought),
        "monthly_avg_spend": gaps(rng.lognormal(3, 1, rows), bought),
        "tenure_months": gaps(rng.uniform(0, 90, rows), bought),
        "recency_days": np.where(bought, rng.integers(0, 4000, rows), -1).astype(np.int32),
        "frequency_trend": gaps(rng.normal(0, 1, rows), rng.random(rows) > 0.4),
        "spend_trend": gaps(rng.normal(0, 3, rows), rng.random(rows) > 0.3),
        "r": rng.integers(0, 6, rows).astype(np.int16),
        "f": rng.integers(0, 6, rows).astype(np.int16),
        "m": rng.integers(0, 6, rows).astype(np.int16),
        "segment": rng.integers(-1, 3, rows).astype(np.int16),
        "abc": rng.integers(0, 4, rows).astype(np.int16),
        "gold": rng.random(rows) < 0.2,
        "drag": rng.random(rows) < 0.3,
        "composite": rng.uniform(-50, 150, rows),
        "formula_version": np.where(rng.random(rows) < 0.1, -1, 4).astype(np.int32),
        "p_alive": gaps(rng.random(rows), modelled),
        "churn_risk": gaps(rng.random(rows), modelled),
        "exp_0": gaps(rng.exponential(1, rows), modelled),
        "exp_1": exp_1,
        "expected_spend": gaps(rng.lognormal(4, 1, rows), modelled),
        "clv": gaps(rng.lognormal(5, 2, rows), modelled),
        "stage": rng.integers(0, 5, rows).astype(np.int16),
        "stage_rule": rng.integers(1, 10, rows).astype(np.int16),
        "stage_since": np.full(rows, binary_timestamp(AS_OF) - 86_400_000_000 * 30, dtype=np.int64),
    }


async def test_stored_rows_are_what_postgresql_makes_of_the_figures(db: asyncpg.Connection) -> None:
    rows = 3_000
    scored = _scored(rows)
    rules = Rules()
    context = Context(binary_timestamp(AS_OF), 12, ["Champions", "At risk", "Hibernating"], rules)
    await db.execute(
        "CREATE TEMP TABLE figures (i int, id uuid, first_at float8, last_at float8, total float8,"
        " composite float8, clv float8, p float8, exp_1 float8, spend_trend float8)"
    )
    await db.copy_records_to_table(
        "figures",
        records=[
            (
                i,
                uuid.UUID(bytes=bytes(scored["customer_id"][i])),
                *(
                    float(scored[k][i])
                    for k in ("first_at", "last_at", "total", "composite", "clv", "p_alive", "exp_1", "spend_trend")
                ),
            )
            for i in range(rows)
        ],
    )
    async with db.transaction():
        await db.execute(staging_ddl("stored", COLUMNS))
        await copy_rows(db, "stored", scored, context, copy_chunk=1_000)  # three COPYs
        got = await db.fetch(
            """
            SELECT f.i, s.*,
                   s.first_purchase_at IS NOT DISTINCT FROM to_timestamp(NULLIF(f.first_at, 'NaN')) AS first_ok,
                   s.last_purchase_at IS NOT DISTINCT FROM to_timestamp(NULLIF(f.last_at, 'NaN')) AS last_ok,
                   s.total_spend = round(f.total::numeric, 2) AS total_ok,
                   s.composite_score = round(f.composite::numeric, 2) AS composite_ok,
                   s.clv IS NOT DISTINCT FROM round(NULLIF(f.clv, 'NaN')::numeric, 2) AS clv_ok,
                   coalesce(round(NULLIF(f.p, 'NaN')::numeric, 3)::text, 'n/a') AS p_text,
                   coalesce(round(NULLIF(f.spend_trend, 'NaN') * 100)::text || '%', 'n/a') AS spend_text
            FROM stored s JOIN figures f ON f.id = s.customer_id ORDER BY f.i
            """
        )
    assert len(got) == rows
    assert all(r["first_ok"] and r["last_ok"] and r["total_ok"] and r["composite_ok"] and r["clv_ok"] for r in got)
    for r in got:
        i = r["i"]
        modelled = not np.isnan(scored["p_alive"][i])
        assert r["as_of"] == AS_OF
        assert r["purchase_days"] == scored["n_days"][i]
        assert (r["recency_days"] is None) == (scored["recency_days"][i] == -1)
        assert (r["avg_spend"] is None) == bool(np.isnan(scored["avg_spend"][i]))
        assert r["rfm_segment"] == [None, "Champions", "At risk", "Hibernating"][scored["segment"][i] + 1]
        assert r["abc_class"] == [None, "C", "B", "A"][scored["abc"][i]]
        assert r["stage"] == ["introduction", "growth", "maturity", "decline", "churned"][scored["stage"][i]]
        assert (r["formula_version"] is None) == (scored["formula_version"][i] == -1)
        assert r["calibration_id"] == (12 if modelled else None)
        assert (r["p_alive"] is None) == (not modelled)
        if modelled:
            e1 = scored["exp_1"][i]
            assert r["expected_purchases"] == [scored["exp_0"][i], None if np.isnan(e1) else e1]
        else:
            assert r["expected_purchases"] is None
        assert r["stage_since"] == datetime(2026, 5, 31, 12, tzinfo=UTC)
        # The reasons quote the figures as PostgreSQL prints them (a rounding to minus zero reads 0%).
        reason = r["stage_reason"]
        rule = scored["stage_rule"][i]
        if rule in (3, 5):
            assert reason.startswith(f"P(alive) {r['p_text']} is below ")
        if rule in (8, 9):
            assert f"{'0%' if r['spend_text'] == '-0%' else r['spend_text']}" in reason
        if rule == 2:
            assert reason == f"no purchase for {scored['recency_days'][i]} days (churned after 365)"
    nulls_in_arrays = [r for r in got if r["expected_purchases"] and None in r["expected_purchases"]]
    assert len(nulls_in_arrays) == 3


async def test_money_beyond_the_column_is_refused_by_the_column(db: asyncpg.Connection) -> None:
    """A figure numeric(14, 2) cannot hold fails the COPY as an overflow, as a cast would."""
    scored = _scored(10)
    scored["total"][4] = 1e13
    context = Context(binary_timestamp(AS_OF), None, ["Champions", "At risk", "Hibernating"], Rules())
    async with db.transaction():
        await db.execute(staging_ddl("stored", COLUMNS))
        with pytest.raises(asyncpg.NumericValueOutOfRangeError):
            await copy_rows(db, "stored", scored, context)


def test_reasons_made_once_read_the_same() -> None:
    """Texts reused across chunks (the batch's cache) are the texts made afresh."""
    scored = _scored(5_000, seed=3)
    made: dict[bytes, bytes] = {}

    def reasons(part: slice, cache: dict[bytes, bytes] | None) -> list[bytes]:
        f = stage_reasons(
            scored["stage_rule"][part],
            n_days=scored["n_days"][part],
            recency_days=scored["recency_days"][part],
            p_alive=scored["p_alive"][part],
            frequency_trend=scored["frequency_trend"][part],
            spend_trend=scored["spend_trend"][part],
            rules=Rules(),
            made=cache,
        )
        return [bytes(f.data[i, :n]) for i, n in enumerate(f.length)]

    fresh = reasons(slice(None), None)
    assert reasons(slice(0, 2_500), made) + reasons(slice(2_500, None), made) == fresh
    assert 0 < len(made) < 5_000
    assert b"known customer, no purchase yet" in fresh


async def test_rows_of_every_width_read_back(db: asyncpg.Connection) -> None:
    """encode_rows: NULLs, empty and long texts, narrow and wide values, in any mix per row."""
    texts = [None, b"", b"a", "é".encode(), b"x" * 33, b"y" * 200]
    rng = np.random.default_rng(5)
    rows = 600
    pick = rng.integers(0, len(texts), rows)
    numbers = rng.integers(-(2**62), 2**62, rows)
    null = rng.random(rows) < 0.3
    fields = [
        Field.of(numbers, "int8", null),
        Field.lookup(pick, texts),
        Field.of(np.frombuffer(rng.bytes(16 * rows), dtype="V16"), "uuid"),
        Field.lookup(np.zeros(rows, dtype=np.intp), [b"same"]),
        Field.of(rng.random(rows) < 0.5, "bool", ~null),
    ]
    await db.execute("CREATE TEMP TABLE widths (n int8, t text, id uuid, c text, b bool)")
    await copy_stream(db, "widths", ["n", "t", "id", "c", "b"], frame([encode_rows(fields[:2] + fields[2:])]))
    got = await db.fetch("SELECT * FROM widths")
    assert len(got) == rows
    for i, r in enumerate(got):
        assert r["n"] == (None if null[i] else int(numbers[i]))
        t = texts[pick[i]]
        assert r["t"] == (None if t is None else t.decode())
        assert r["c"] == "same"
        assert (r["b"] is None) == (not null[i])
