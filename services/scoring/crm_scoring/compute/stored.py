"""Scored customers in their stored form, as binary COPY rows: NULLs, money as numeric, texts (class, segment,
stage and its reason), expected purchases as an array. The one place the stored forms are made, for every
writer: the batch copies them straight into its next scores table (compute/swap.py), an event's rescoring
stages them for its upsert (compute/write.py), a backtest keeps them (batch/snapshot.py).

The server only stores what it receives: computing the stored forms in SQL from staged numbers (reason texts
with format(), arrays, casts) cost the batch an INSERT ... SELECT of ~7 s of backend CPU per million rows on
top of the staging COPY; a COPY of the stored forms costs ~5 s, and no staging table."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import numpy as np

from ..rules.schemas import Rules
from ..scores.models import STAGES, CustomerScore
from .binary_copy import POSTGRES_EPOCH, Field, copy_stream, encode_rows, frame
from .cents import NO_CENTS, cents, numeric_binary
from .reasons import stage_reasons

LIVE = CustomerScore.__tablename__
ABC_NAMES = (None, b"C", b"B", b"A")  # the batch's abc code 0..3 (0: unscored)
STAGE_NAMES = tuple(s.encode() for s in STAGES)
FLOAT8_OID = 701
# Every stored column the writers send, in COPY order (`computed_at` is the server's: the time of the write).
COLUMNS: tuple[str, ...] = (
    *("customer_id", "as_of", "first_purchase_at", "last_purchase_at", "purchase_days", "order_count"),
    *("total_spend", "avg_spend", "spend_12m", "monthly_frequency", "monthly_avg_spend", "tenure_months"),
    *("recency_days", "frequency_trend", "spend_trend", "r", "f", "m", "rfm_segment", "abc_class", "gold", "drag"),
    *("composite_score", "formula_version", "p_alive", "churn_risk", "expected_purchases", "expected_spend", "clv"),
    *("calibration_id", "stage", "stage_reason", "stage_since"),
)
# A copy a backtest keeps has no stage_since (nor computed_at).
KEPT_COLUMNS = COLUMNS[:-1]
# Rows encoded at once: their slot matrix and mask (~600 bytes a row each) stay below the batch's mmap threshold
# (batch/memory.py), so they reuse the heap's pages rather than fault in new ones each time.
ENCODE_ROWS = 4096


@dataclass(frozen=True)
class Context:
    """What the stored forms need beside the scored arrays."""

    as_of_micros: int  # binary timestamptz of the scores' date
    calibration_id: int | None  # the customers with model outputs refer to it
    segment_names: Sequence[str]  # the RFM segment code's names
    rules: Rules  # the thresholds the reasons quote, the horizons
    reasons: dict[Any, bytes] = field(default_factory=dict)  # the reason texts made so far (compute/reasons)


def staging_ddl(table: str, columns: Sequence[str]) -> str:
    """A temp table of the given stored columns, typed as the live table's are now (dropped at commit)."""
    return f"CREATE TEMP TABLE {table} ON COMMIT DROP AS SELECT {', '.join(columns)} FROM {LIVE} WITH NO DATA"


def _timestamps(seconds: np.ndarray) -> Field:
    """Unix seconds as timestamptz (NaN: NULL), as to_timestamp(float8) converts them."""
    missing = np.isnan(seconds)
    micros = np.rint((np.where(missing, 0.0, seconds) - POSTGRES_EPOCH) * 1e6).astype(np.int64)
    return Field.of(micros, "timestamptz", missing)


def _money(values: np.ndarray) -> Field:
    c = cents(values)
    return Field.of(numeric_binary(c), "numeric", c == NO_CENTS)


def _float(values: np.ndarray) -> Field:
    return Field.of(values, "float8", np.isnan(values))


def _array(columns: Sequence[np.ndarray], null: np.ndarray) -> Field:
    """float8[] of one element per column (a NaN element NULL), NULL where `null`."""
    rows, count = len(null), len(columns)
    head = np.array([1, 0, FLOAT8_OID, count, 1], dtype=">i4")  # dimensions, has nulls, element type, size, lower
    record = np.dtype([("head", ">i4", 5), *((f"e{i}", [("len", ">i4"), ("v", ">f8")]) for i in range(count))])
    out = np.zeros(rows, dtype=record)
    out["head"] = head
    some_null = np.zeros(rows, dtype=bool)
    for i, values in enumerate(columns):
        out[f"e{i}"]["len"] = 8
        out[f"e{i}"]["v"] = values
        some_null |= np.isnan(values) & ~null
    field = Field(out.view(np.uint8).reshape(rows, record.itemsize), np.where(null, -1, record.itemsize))
    for at in np.flatnonzero(some_null):  # rare: an element without a figure is written NULL, without bytes
        field = _with_null_elements(field, int(at), [float(c[at]) for c in columns])
    return field


_NULL_ELEMENT, _EIGHT = np.array([-1], ">i4").tobytes(), np.array([8], ">i4").tobytes()


def _with_null_elements(field: Field, at: int, values: list[float]) -> Field:
    parts = [np.array([1, 1, FLOAT8_OID, len(values), 1], dtype=">i4").tobytes()]
    for v in values:
        parts.append(_NULL_ELEMENT if v != v else _EIGHT + np.array([v], ">f8").tobytes())
    value = np.frombuffer(b"".join(parts), dtype=np.uint8)
    field.data[at, : len(value)] = value
    field.length[at] = len(value)
    return field


def fields(
    scored: dict[str, np.ndarray], context: Context, columns: Sequence[str], reasons: Field | None = None
) -> list[Field]:
    """The rows' `columns` (of COLUMNS) in binary form. `scored`: the scored arrays (compute/score.py), and
    `stage_since` (binary timestamptz) when it is among the columns. `reasons`: the rows' stage reasons, when
    made already (`reasons_of`)."""
    rows = len(scored["customer_id"])
    p_alive = scored["p_alive"]
    modelled = ~np.isnan(p_alive)
    horizons = len(context.rules.clv.horizons_days)
    made = {
        "customer_id": lambda: Field.of(scored["customer_id"], "uuid"),
        "as_of": lambda: Field.of(np.full(rows, context.as_of_micros), "timestamptz"),
        "first_purchase_at": lambda: _timestamps(scored["first_at"]),
        "last_purchase_at": lambda: _timestamps(scored["last_at"]),
        "purchase_days": lambda: Field.of(scored["n_days"], "int4"),
        "order_count": lambda: Field.of(scored["n_orders"], "int4"),
        "total_spend": lambda: _money(scored["total"]),
        "avg_spend": lambda: _money(scored["avg_spend"]),
        "spend_12m": lambda: _money(scored["spend_12m"]),
        "monthly_frequency": lambda: _float(scored["monthly_frequency"]),
        "monthly_avg_spend": lambda: _money(scored["monthly_avg_spend"]),
        "tenure_months": lambda: _float(scored["tenure_months"]),
        "recency_days": lambda: Field.of(scored["recency_days"], "int4", scored["recency_days"] == -1),
        "frequency_trend": lambda: _float(scored["frequency_trend"]),
        "spend_trend": lambda: _float(scored["spend_trend"]),
        "r": lambda: Field.of(scored["r"], "int2"),
        "f": lambda: Field.of(scored["f"], "int2"),
        "m": lambda: Field.of(scored["m"], "int2"),
        "rfm_segment": lambda: Field.lookup(
            scored["segment"] + 1, [None, *(n.encode() for n in context.segment_names)]
        ),
        "abc_class": lambda: Field.lookup(scored["abc"], ABC_NAMES),
        "gold": lambda: Field.of(scored["gold"], "bool"),
        "drag": lambda: Field.of(scored["drag"], "bool"),
        "composite_score": lambda: _money(scored["composite"]),
        "formula_version": lambda: Field.of(scored["formula_version"], "int4", scored["formula_version"] == -1),
        "p_alive": lambda: _float(p_alive),
        "churn_risk": lambda: _float(scored["churn_risk"]),
        "expected_purchases": lambda: _array([scored[f"exp_{i}"] for i in range(horizons)], ~modelled),
        "expected_spend": lambda: _money(scored["expected_spend"]),
        "clv": lambda: _money(scored["clv"]),
        "calibration_id": lambda: Field.of(
            np.full(rows, context.calibration_id or 0), "int4", ~modelled | (context.calibration_id is None)
        ),
        "stage": lambda: Field.lookup(scored["stage"], STAGE_NAMES),
        "stage_reason": lambda: reasons_of(scored, context) if reasons is None else reasons,
        "stage_since": lambda: Field.of(scored["stage_since"], "timestamptz"),
    }
    return [made[c]() for c in columns]


def reasons_of(scored: dict[str, np.ndarray], context: Context) -> Field:
    return stage_reasons(
        scored["stage_rule"],
        n_days=scored["n_days"],
        recency_days=scored["recency_days"],
        p_alive=scored["p_alive"],
        frequency_trend=scored["frequency_trend"],
        spend_trend=scored["spend_trend"],
        rules=context.rules,
        made=context.reasons,
    )


def encode(
    scored: dict[str, np.ndarray], context: Context, columns: Sequence[str], run_id: int | None = None
) -> list[memoryview]:
    """One binary COPY stream, in pieces, of the rows' stored `columns` (after `run_id`, an int4, if given),
    made ENCODE_ROWS rows at a time (the reasons at once: their distinct texts are looked up once)."""
    reasons = reasons_of(scored, context) if "stage_reason" in columns else None
    bodies = []
    for start in range(0, len(scored["customer_id"]), ENCODE_ROWS):
        end = start + ENCODE_ROWS
        piece = {k: v[start:end] for k, v in scored.items()}
        given = None if reasons is None else Field(reasons.data[start:end], reasons.length[start:end])
        made = fields(piece, context, columns, given)
        if run_id is not None:
            made.insert(0, Field.of(np.full(len(piece["customer_id"]), run_id), "int4"))
        bodies.append(encode_rows(made))
    return frame(bodies)


async def copy_rows(
    conn: asyncpg.Connection,
    table: str,
    scored: dict[str, np.ndarray],
    context: Context,
    *,
    columns: Sequence[str] = COLUMNS,
    copy_chunk: int = 100_000,
    run_id: int | None = None,
) -> None:
    """The rows into `table`, one COPY per `copy_chunk` rows, each chunk encoded in a thread while the one
    before it is sent (NumPy releases the GIL: one connection's encoding does not hold up another's COPY).
    `run_id`: a first column `run_id` of that value (a backtest's copies)."""
    names = [*(["run_id"] if run_id is not None else []), *columns]

    def encoded(start: int) -> list[memoryview]:
        return encode({k: v[start : start + copy_chunk] for k, v in scored.items()}, context, columns, run_id)

    starts = range(0, len(scored["customer_id"]), copy_chunk)
    upcoming = asyncio.ensure_future(asyncio.to_thread(encoded, starts[0])) if starts else None
    for i in range(len(starts)):
        assert upcoming is not None
        stream = await upcoming
        upcoming = asyncio.ensure_future(asyncio.to_thread(encoded, starts[i + 1])) if i + 1 < len(starts) else None
        try:
            await copy_stream(conn, table, names, stream)
        except BaseException:
            if upcoming is not None:
                await asyncio.wait([upcoming])  # no encoding left running behind a failed write
            raise
        del stream
