"""The stage-in-a-sort-order indexes of issue 13 (migration 0006; led by the stage and class codes since
0011): a stage's list in every sort answers the same customers in the same order as a plain sort of
customer_scores (index scans off), nulls section included; the list's shape can range-scan the new index;
and the batch's table swap keeps the indexes."""

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
    *(f"ix_customer_scores_stage_code_{c}_customer_id" for c in ("clv", "churn_risk", "composite_score")),
    "ix_customer_scores_abc_code_clv_customer_id",
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


@pytest.mark.parametrize("column", ["clv", "churn_risk", "composite_score"])
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
        "SELECT customer_id FROM customer_scores WHERE abc_code IN (1) AND clv IS NOT NULL"
        " AND (clv, customer_id) < (500, 'ffffffff-ffff-4fff-bfff-ffffffffffff'::uuid)"
        " ORDER BY clv DESC, customer_id DESC LIMIT 51"
    )
    async with db.transaction():
        await db.execute(
            "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"
        )
        plan = "\n".join(r[0] for r in await db.fetch(f"EXPLAIN {sql}"))
    assert "ix_customer_scores_abc_code_clv_customer_id" in plan, plan


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
        ({"stage": ["growth"]}, "ix_customer_scores_stage_code_clv_customer_id"),
        ({"abc_class": ["C"]}, "ix_customer_scores_abc_code_clv_customer_id"),
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
    base = base.where(CustomerScore.clv.is_not(None))
    stmt = _keyset(base, [CustomerScore.clv, CustomerScore.customer_id], True, None, 51)
    sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    async with db.transaction():
        await db.execute(
            "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"
        )
        plan = "\n".join(r[0] for r in await db.fetch(f"EXPLAIN {sql}"))
    assert index in plan, plan
