"""The stage-in-a-sort-order indexes of issue 13 (migration 0006; led by the stage and class codes since
0011, money in whole cents since 0012): a stage's list in every sort answers the same customers in the same
order as a plain sort of customer_scores (index scans off), nulls section included; the list's shape can
range-scan the new index; and the batch's table swap keeps the indexes."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from .helpers import insert_score

URL = "/api/v1/scores/customers"
STAGES = ("introduction", "growth", "maturity", "decline", "churned")
INDEXES = (
    *(f"ix_customer_scores_stage_code_{c}_customer_id" for c in ("clv_cents", "churn_risk", "composite_cents")),
    "ix_customer_scores_abc_code_clv_cents_customer_id",
)
# sort -> ORDER BY of the reference (nulls last, as their own section ordered by id in the same direction)
SORTS = {
    "-clv": "clv DESC NULLS LAST, customer_id DESC",
    "clv": "clv ASC NULLS LAST, customer_id ASC",
    "-churn_risk": "churn_risk DESC NULLS LAST, customer_id DESC",
    "-composite_score": "composite_score DESC, customer_id DESC",
    "composite_score": "composite_score ASC, customer_id ASC",
    "customer_id": "customer_id ASC",
}


@pytest.fixture
async def scores(db: asyncpg.Connection) -> None:
    """250 customers over the stages, with ties in every sort column and some without a CLV or churn risk."""
    rng = random.Random(6)
    for _ in range(250):
        scored = rng.random() < 0.85
        await insert_score(
            db,
            stage=rng.choices(STAGES, weights=(10, 40, 25, 15, 10))[0],
            clv=Decimal(rng.randrange(0, 40) * 25) if scored else None,
            p_alive=rng.randrange(0, 10) / 10 if scored else None,
            churn_risk=rng.randrange(0, 10) / 10 if scored else None,
            composite_score=Decimal(rng.randrange(0, 20) * 5),
        )
    await db.execute("ANALYZE customer_scores")


async def _walk(client: Any, params: dict[str, str]) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        r = await client.get(URL, params={**params, "limit": "9", **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        ids += [item["customer_id"] for item in body["items"]]
        if (cursor := body["next_cursor"]) is None:
            return ids


@pytest.mark.parametrize("sort", list(SORTS))
@pytest.mark.parametrize("stage", ["growth", "churned"])
async def test_a_stage_in_each_sort_answers_as_a_plain_sort(reader, db, scores, stage, sort):
    got = await _walk(reader, {"stage": stage, "sort": sort})
    async with db.transaction():
        await db.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off")
        await db.execute("SET LOCAL enable_bitmapscan = off")
        rows = await db.fetch(f"SELECT customer_id FROM customer_scores WHERE stage = $1 ORDER BY {SORTS[sort]}", stage)
    expected = [str(r[0]) for r in rows]
    assert got == expected
    assert len(got) > 10


@pytest.mark.parametrize("column", ["clv_cents", "churn_risk", "composite_cents"])
async def test_the_stage_sort_shape_range_scans_its_index(db, scores, column):
    sql = (
        f"SELECT customer_id FROM customer_scores WHERE stage_code IN (1) AND {column} IS NOT NULL"
        f" AND ({column}, customer_id) < (50, 'ffffffff-ffff-4fff-bfff-ffffffffffff'::uuid)"
        f" ORDER BY {column} DESC, customer_id DESC LIMIT 51"
    )
    async with db.transaction():
        await db.execute(
            "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"
        )
        plan = "\n".join(r[0] for r in await db.fetch(f"EXPLAIN {sql}"))
    assert f"ix_customer_scores_stage_code_{column}_customer_id" in plan, plan


async def test_a_class_in_clv_order_range_scans_its_index(db, scores):
    await db.execute(
        "UPDATE customer_scores SET abc_class = (ARRAY['A', 'B', 'C'])[1 + get_byte(uuid_send(customer_id), 0) % 3]"
    )
    sql = (
        "SELECT customer_id FROM customer_scores WHERE abc_code IN (1) AND clv_cents IS NOT NULL"
        " AND (clv_cents, customer_id) < (50000, 'ffffffff-ffff-4fff-bfff-ffffffffffff'::uuid)"
        " ORDER BY clv_cents DESC, customer_id DESC LIMIT 51"
    )
    async with db.transaction():
        await db.execute(
            "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"
        )
        plan = "\n".join(r[0] for r in await db.fetch(f"EXPLAIN {sql}"))
    assert "ix_customer_scores_abc_code_clv_cents_customer_id" in plan, plan


@pytest.mark.parametrize("sort", ["-clv", "clv"])
async def test_a_class_in_clv_order_answers_as_a_plain_sort(reader, db, scores, sort):
    await db.execute(
        "UPDATE customer_scores SET abc_class = (ARRAY['A', 'B', 'C'])[1 + get_byte(uuid_send(customer_id), 0) % 3]"
    )
    got = await _walk(reader, {"abc_class": "C", "sort": sort})
    async with db.transaction():
        await db.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off")
        await db.execute("SET LOCAL enable_bitmapscan = off")
        rows = await db.fetch(f"SELECT customer_id FROM customer_scores WHERE abc_class = 'C' ORDER BY {SORTS[sort]}")
    assert got == [str(r[0]) for r in rows]
    assert len(got) > 10


async def test_the_batch_swap_keeps_the_stage_indexes(db):
    """The batch builds every model index on the table it swaps in (compute/swap.py): the new ones too."""
    from crm_scoring.compute.swap import _index_ddl

    names = {name for name, _ in _index_ddl()}
    assert set(INDEXES) <= names
    present = {r[0] for r in await db.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'customer_scores'")}
    assert set(INDEXES) <= present


async def test_the_points_list_order_reads_its_index(db):
    """Newest month first, then by customer (mixed directions): the first page straight off the index."""
    sql = "SELECT customer_id FROM points_ledger ORDER BY month DESC, customer_id LIMIT 51"
    async with db.transaction():
        await db.execute(
            "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"
        )
        plan = "\n".join(r[0] for r in await db.fetch(f"EXPLAIN {sql}"))
    assert "ix_points_ledger_month_desc_customer_id" in plan, plan


async def test_the_batch_leaves_its_scores_table_all_visible(api, db, engine, settings):
    """Counts and charts can answer from the indexes alone right after a batch (a new table has no page
    marked all-visible until it is vacuumed), and the stage indexes came with the swap."""
    from crm_scoring.batch.runner import run_batch

    from .test_batch import NOW, _history, _load

    events, _ = _history(3, 200)
    await _load(api, events)
    await run_batch(engine, settings, as_of=NOW)
    pages, visible = await db.fetchrow("SELECT relpages, relallvisible FROM pg_class WHERE relname = 'customer_scores'")
    assert pages > 0
    assert visible == pages
    present = {r[0] for r in await db.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'customer_scores'")}
    assert set(INDEXES) <= present


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({"stage": ["growth"]}, "ix_customer_scores_stage_code_clv_cents_customer_id"),
        ({"abc_class": ["C"]}, "ix_customer_scores_abc_code_clv_cents_customer_id"),
    ],
)
async def test_the_lists_own_statement_reads_the_code_index(db, scores, filters, index):
    """The scores list's statement itself (scores/repository.py: its filters as stage and class codes), not a
    hand-written copy, range-scans the code-led index in the default CLV order."""
    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql

    from crm_scoring.scores.models import CustomerScore
    from crm_scoring.scores.repository import _keyset, conditions
    from crm_scoring.scores.schemas import ScoreFilters

    base = select(CustomerScore.customer_id).where(*conditions(ScoreFilters(**filters)))
    base = base.where(CustomerScore.clv_cents.is_not(None))
    stmt = _keyset(base, [CustomerScore.clv_cents, CustomerScore.customer_id], True, None, 51)
    sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    async with db.transaction():
        await db.execute(
            "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"
        )
        plan = "\n".join(r[0] for r in await db.fetch(f"EXPLAIN {sql}"))
    assert index in plan, plan


@pytest.mark.parametrize(
    "params",
    [
        {"clv_min": "250", "clv_max": "500", "sort": "clv"},
        {"clv_min": "250.01", "sort": "-clv", "stage": "growth"},
        {"composite_min": "20", "composite_max": "64.99", "sort": "-composite_score"},
        {"clv_max": "99999999999999.99", "sort": "clv"},
        {"clv_min": "-99999999999999.99", "composite_min": "0.01", "sort": "composite_score"},
    ],
)
async def test_money_bounds_and_sorts_in_cents_select_as_the_figures_do(reader, db, scores, params):
    """The list walks and bounds money in its whole-cents columns: the same customers, in the same order, as
    the numeric figures bounded and sorted by a plain query; and the count agrees."""
    got = await _walk(reader, params)
    terms, args = [], []
    for name, op in (("clv_min", ">="), ("clv_max", "<="), ("composite_min", ">="), ("composite_max", "<=")):
        if name in params:
            column = "clv" if name.startswith("clv") else "composite_score"
            args.append(Decimal(params[name]))
            terms.append(f"{column} {op} ${len(args)}")
    if "stage" in params:
        args.append(params["stage"])
        terms.append(f"stage = ${len(args)}")
    async with db.transaction():
        await db.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off")
        await db.execute("SET LOCAL enable_bitmapscan = off")
        order = SORTS[params["sort"]]
        rows = await db.fetch(
            f"SELECT customer_id FROM customer_scores WHERE {' AND '.join(terms)} ORDER BY {order}", *args
        )
    assert got == [str(r[0]) for r in rows]
    assert got
    count = await reader.get(f"{URL}/count", params={k: v for k, v in params.items() if k != "sort"})
    assert count.status_code == 200, count.text
    assert count.json()["count"] == len(got)


def test_cents_of_bounds_between_two_cents() -> None:
    from crm_scoring.scores.repository import INT8, _cents, cents_ceil, cents_floor

    assert (cents_ceil(Decimal("2.001")), cents_floor(Decimal("2.009"))) == (201, 200)
    assert (cents_ceil(Decimal("-2.001")), cents_floor(Decimal("-2.001"))) == (-200, -201)
    assert (cents_ceil(Decimal("2.5")), cents_floor(Decimal("2.5"))) == (250, 250)
    assert _cents(Decimal("1e30"), None) == INT8[1]
    assert _cents(Decimal("-Infinity"), None) == INT8[0]
    assert _cents(Decimal("NaN"), None) == INT8[1]  # numeric NaN sorts above every figure
