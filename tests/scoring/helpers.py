"""Builders for the scoring API tests: rows inserted with SQL (the engine that computes them is tested on
its own), and a 12-customer base with known values that the list and distribution tests share."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import numpy as np

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
NUMERIC = frozenset(
    {
        "total_spend",
        "avg_spend",
        "spend_12m",
        "monthly_avg_spend",
        "composite_score",
        "expected_spend",
        "clv",
        "declared_budget",
        "share_of_wallet",
        "amount",
        "refunded_amount",
    }
)
SCORE_DEFAULTS: dict[str, Any] = {
    "as_of": AS_OF,
    "first_purchase_at": datetime(2025, 1, 10, tzinfo=UTC),
    "last_purchase_at": datetime(2026, 10, 1, tzinfo=UTC),
    "purchase_days": 5,
    "order_count": 6,
    "total_spend": "600.00",
    "avg_spend": "100.00",
    "spend_12m": "300.00",
    "monthly_frequency": 0.3,
    "monthly_avg_spend": "30.00",
    "tenure_months": 21.7,
    "recency_days": 31,
    "frequency_trend": 0.0,
    "spend_trend": 0.0,
    "r": 3,
    "f": 3,
    "m": 3,
    "rfm_segment": "loyal",
    "abc_class": "B",
    "gold": False,
    "drag": False,
    "composite_score": "20.00",
    "formula_version": 1,
    "p_alive": None,
    "churn_risk": None,
    "expected_purchases": None,
    "expected_spend": None,
    "clv": None,
    "calibration_id": None,
    "stage": "maturity",
    "stage_reason": "steady buyer",
    "stage_since": datetime(2026, 3, 1, tzinfo=UTC),
}


def cid(i: int) -> uuid.UUID:
    """A readable customer id whose order is i's order (in Python and in PostgreSQL)."""
    return uuid.UUID(int=i)


def _values(values: dict[str, Any]) -> dict[str, Any]:
    return {k: Decimal(str(v)) if k in NUMERIC and v is not None else v for k, v in values.items()}


async def _insert(db: asyncpg.Connection, table: str, values: dict[str, Any], returning: str | None = None) -> Any:
    names = list(values)
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(f'${i + 1}' for i in range(len(names)))})"
    if returning:
        return await db.fetchval(f"{sql} RETURNING {returning}", *values.values())
    await db.execute(sql, *values.values())
    return None


async def insert_score(db: asyncpg.Connection, customer_id: uuid.UUID | None = None, **over: Any) -> uuid.UUID:
    """A customer_scores row: the defaults above with `over` applied."""
    customer_id = customer_id or uuid.uuid4()
    await _insert(db, "customer_scores", _values({**SCORE_DEFAULTS, **over, "customer_id": customer_id}))
    return customer_id


async def insert_known(db: asyncpg.Connection, customer_id: uuid.UUID, **over: Any) -> uuid.UUID:
    """A known_customers row (payment_terms, brand_contribution, declared_budget, share_of_wallet, merged_into)."""
    await _insert(db, "known_customers", _values({"customer_id": customer_id, **over}))
    return customer_id


async def insert_purchase(
    db: asyncpg.Connection,
    customer_id: uuid.UUID,
    ordered_at: datetime,
    amount: str = "10.00",
    product_lines: Iterable[str] = (),
    **over: Any,
) -> uuid.UUID:
    """A purchases row (cancelled_at, refunded_amount, refunded_at via `over`)."""
    order_id = uuid.uuid4()
    values = {
        "order_id": order_id,
        "customer_id": customer_id,
        "ordered_at": ordered_at,
        "amount": amount,
        "currency": "EUR",
        "product_lines": list(product_lines),
        **over,
    }
    await _insert(db, "purchases", _values(values))
    return order_id


async def insert_calibration(db: asyncpg.Connection, horizons: Iterable[int] = (90, 365)) -> int:
    """A calibration whose rules in force give the horizons of `expected_purchases`."""
    rules = {"clv": {"horizons_days": list(horizons)}}
    values = {"as_of": AS_OF, "fits": "{}", "cuts": "{}", "rules": json.dumps(rules)}
    return await _insert(db, "calibrations", values, returning="id")


async def insert_score_change(db: asyncpg.Connection, customer_id: uuid.UUID, at: datetime, **over: Any) -> int:
    values = {
        "customer_id": customer_id,
        "at": at,
        "as_of": at,
        "cause": "event",
        "composite_score": "20.00",
        "clv": None,
        "p_alive": None,
        "abc_class": "B",
        "rfm_segment": "loyal",
        "stage": "maturity",
        "changed": ["composite_score"],
        **over,
    }
    return await _insert(db, "score_changes", _values(values), returning="id")


async def insert_stage_change(db: asyncpg.Connection, customer_id: uuid.UUID, at: datetime, **over: Any) -> int:
    values = {
        "customer_id": customer_id,
        "at": at,
        "as_of": at,
        "cause": "batch",
        "from_stage": "introduction",
        "to_stage": "growth",
        "reason": "third purchase day",
        **over,
    }
    return await _insert(db, "stage_changes", values, returning="id")


# The shared base: id -> (stage, abc_class, gold, drag, rfm_segment, (r, f, m), clv, p_alive, churn_risk,
# composite_score, total_spend). CLV null for 10-12 (as before a calibration); 2 and 3 tie on CLV.
BASE: dict[int, tuple[Any, ...]] = {
    1: ("growth", "A", True, False, "champions", (5, 5, 5), "900.00", 0.95, 0.05, "80.00", "5000.00"),
    2: ("maturity", "A", True, False, "champions", (4, 5, 5), "750.00", 0.90, 0.10, "70.00", "3000.00"),
    3: ("maturity", "A", False, False, "loyal", (3, 4, 5), "750.00", 0.85, 0.15, "65.00", "1000.00"),
    4: ("maturity", "B", False, False, "loyal", (3, 3, 3), "400.00", 0.80, 0.20, "50.00", "400.00"),
    5: ("introduction", "B", False, False, "new_customers", (5, 1, 2), "300.00", 0.99, 0.01, "30.00", "300.00"),
    6: ("growth", "B", False, False, "potential_loyalists", (5, 2, 2), "250.00", 0.70, 0.30, "45.00", "200.00"),
    7: ("decline", "C", False, True, "at_risk", (2, 3, 1), "100.00", 0.40, 0.60, "20.00", "50.00"),
    8: ("decline", "C", False, True, "about_to_sleep", (2, 1, 1), "50.00", 0.35, 0.65, "15.00", "30.00"),
    9: ("churned", "C", False, True, "lost", (1, 1, 1), "0.00", 0.10, 0.90, "5.00", "20.00"),
    10: ("churned", "C", False, True, "hibernating", (1, 2, 1), None, None, None, "10.00", "0.00"),
    11: ("introduction", "C", False, False, None, (0, 0, 0), None, None, None, "0.00", "0.00"),
    12: ("introduction", "C", False, False, "new_customers", (5, 1, 1), None, None, None, "12.00", "0.00"),
}


async def seed_base(db: asyncpg.Connection) -> None:
    """The 12 customers of BASE, as customer_scores rows (ids cid(1)..cid(12))."""
    for i, (stage, abc, gold, drag, segment, (r, f, m), clv, p_alive, churn, composite, spend) in BASE.items():
        await insert_score(
            db,
            cid(i),
            stage=stage,
            abc_class=abc,
            gold=gold,
            drag=drag,
            rfm_segment=segment,
            r=r,
            f=f,
            m=m,
            clv=clv,
            p_alive=p_alive,
            churn_risk=churn,
            composite_score=composite,
            total_spend=spend,
        )


async def finished_run(client: httpx.AsyncClient, location: str, polls: int = 400) -> dict[str, Any]:
    """Poll a batch run (the Location of a 202) until it is no longer running, 50 ms apart."""
    for _ in range(polls):
        run = (await client.get(location)).json()
        if run["status"] != "running":
            return run
        await asyncio.sleep(0.05)
    raise AssertionError(f"run still running: {run}")


def _uuid(rng: np.random.Generator) -> uuid.UUID:
    """A version-4 UUID from the generator: ids (and so the held-out split, by id) repeat with the seed."""
    return uuid.UUID(bytes=rng.bytes(16), version=4)


def mbgnbd_orders(n: int, seed: int, end: datetime, holdout_days: int) -> list[tuple]:
    """Orders (order id, customer id, ordered_at, amount) of customers buying at Gamma-distributed daily
    rates who may leave after each purchase (MBG/NBD), first purchases spread over the two years before a
    holdout of `holdout_days`, observed until `end`."""
    rng = np.random.default_rng(seed)
    rows = []
    horizon = 730 + holdout_days
    for _ in range(n):
        c = _uuid(rng)
        rate = rng.gamma(0.9, 1 / 40)  # purchases per day
        drop = rng.beta(1.6, 14.0)
        t = rng.uniform(0, 730)
        while t < horizon:
            rows.append((_uuid(rng), c, end - timedelta(days=horizon - t), Decimal(f"{rng.gamma(3, 20) + 1:.2f}")))
            if rng.random() < drop:
                break
            t += rng.exponential(1 / rate)
    return rows


async def load_purchases(db: asyncpg.Connection, orders: list[tuple], currency: str = "EUR") -> None:
    """Put (order id, customer id, ordered_at, amount) rows straight into the purchase copy."""
    await db.copy_records_to_table(
        "purchases",
        records=[(o, c, at, amount, currency) for o, c, at, amount in orders],
        columns=["order_id", "customer_id", "ordered_at", "amount", "currency"],
    )
    await db.execute("INSERT INTO known_customers (customer_id) SELECT DISTINCT customer_id FROM purchases")
