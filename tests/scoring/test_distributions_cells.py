"""Score cells (crm_scoring/distributions/cells.py): after random events, direct writes, merges, concurrent
writers and batch runs, the kept cells sum to exactly what a fresh grouping of customer_scores gives, and
the charts and counts read from them answer as a scan would."""

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from crm_scoring.batch.runner import run_batch
from crm_scoring.compute.write import SCORE_COLUMNS
from crm_scoring.distributions.cells import CELLS_OF, KEY
from tests.scoring.events import deliver, merged, order_adjusted, order_created

from .helpers import insert_score, seed_base

NOW = datetime.now(UTC)
KEYS = ", ".join(KEY)
SUMS = "sum(n) AS n, sum(m_sum) AS m_sum, sum(revenue) AS revenue"
KEPT = f"SELECT {KEYS}, {SUMS} FROM score_cells GROUP BY {KEYS} HAVING sum(n) <> 0"


def _cells(rows) -> dict[tuple, tuple]:
    return {tuple(r[k] for k in KEY): (r["n"], r["m_sum"], r["revenue"]) for r in rows}


async def assert_cells_current(db: asyncpg.Connection) -> None:
    kept = _cells(await db.fetch(KEPT))
    fresh = _cells(await db.fetch(CELLS_OF.format(table="customer_scores")))
    assert kept == fresh
    # A cell that nets to no customer has nothing left in its sums either.
    emptied = await db.fetch(KEPT.replace("<> 0", "= 0"))
    assert all(r["m_sum"] == 0 and r["revenue"] == 0 for r in emptied)


async def test_random_events_keep_the_cells_equal_to_a_fresh_grouping(api, db, engine, settings):
    rng = random.Random(13)
    customers = [uuid.uuid4() for _ in range(30)]
    created: list[dict] = []
    for round_ in range(6):
        batch = []
        for _ in range(rng.randint(5, 25)):
            c = rng.choice(customers)
            event = order_created(c, NOW - timedelta(days=rng.uniform(1, 700)), f"{rng.uniform(1, 500):.2f}")
            created.append(event)
            batch.append(event)
        if created and rng.random() < 0.7:
            victim = rng.choice(created)
            kind = rng.choice(["order.cancelled", "order.refunded"])
            batch.append(order_adjusted(victim, kind, NOW, refunded_total=victim["data"]["amount"]))
        await deliver(api, *batch)
        if round_ == 3:  # a merge deletes the merged customer's scores row
            await deliver(api, merged(customers[0], customers[1]))
        if round_ == 2:
            await run_batch(engine, settings, as_of=NOW)  # classes and RFM scores from here on
        await assert_cells_current(db)
    assert await db.fetchval("SELECT count(*) FROM customer_scores WHERE abc_class IS NOT NULL") > 0


async def test_direct_writes_of_every_kind_are_counted(db):
    await seed_base(db)
    await assert_cells_current(db)
    await db.execute("UPDATE customer_scores SET stage = 'churned', m = m + 1, total_spend = total_spend + 1.25")
    await assert_cells_current(db)
    await db.execute("UPDATE customer_scores SET stage_reason = 'same cell'")  # nothing charted changes
    await assert_cells_current(db)
    await db.execute("DELETE FROM customer_scores WHERE abc_class = 'C'")
    await assert_cells_current(db)
    async with db.transaction():
        await insert_score(db)
        await db.execute(
            f"INSERT INTO customer_scores ({SCORE_COLUMNS}) SELECT {SCORE_COLUMNS} FROM customer_scores LIMIT 1 "
            "ON CONFLICT (customer_id) DO UPDATE SET abc_class = 'A', gold = NOT excluded.gold"
        )
    await assert_cells_current(db)


async def test_compaction_folds_the_deltas_without_changing_a_cell(db):
    await seed_base(db)
    for _ in range(20):
        await db.execute("UPDATE customer_scores SET m = (m + 1) % 6, gold = NOT gold")
    distinct_cells = f"SELECT count(*) FROM (SELECT DISTINCT {KEYS} FROM score_cells) AS c"
    # The trigger also compacts at random (2% of statements): if the last update did, give it deltas again.
    while await db.fetchval("SELECT count(*) FROM score_cells") == await db.fetchval(distinct_cells):
        await db.execute("UPDATE customer_scores SET m = (m + 1) % 6, gold = NOT gold")
    before = await db.fetchval("SELECT count(*) FROM score_cells")
    await db.execute("SELECT score_cells_compact()")
    await assert_cells_current(db)
    after = await db.fetch("SELECT * FROM score_cells")
    assert len(after) < before
    assert len(after) == len({tuple(r[k] for k in KEY) for r in after})  # one row per cell
    assert all(r["n"] > 0 for r in after)


async def test_concurrent_writers_neither_deadlock_nor_lose_a_delta(db, db_url):
    await seed_base(db)
    ids = [r["customer_id"] for r in await db.fetch("SELECT customer_id FROM customer_scores ORDER BY 1")]

    async def writer(seed: int) -> None:
        rng = random.Random(seed)
        conn = await asyncpg.connect(db_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            for _ in range(60):
                async with conn.transaction():
                    for c in sorted(rng.sample(ids, 3)):  # in key order, as the handlers lock
                        await conn.execute(
                            "UPDATE customer_scores SET m = $2, stage = $3 WHERE customer_id = $1",
                            c,
                            rng.randint(0, 5),
                            rng.choice(["growth", "decline"]),
                        )
                    await conn.execute("SELECT score_cells_compact()")  # one at a time: the others skip
        finally:
            await conn.close()

    await asyncio.gather(*(writer(s) for s in range(4)))
    await assert_cells_current(db)


async def test_the_batch_rebuilds_the_cells_inside_its_swap(api, db, engine, settings):
    await deliver(api, *(order_created(uuid.uuid4(), NOW - timedelta(days=d), "20.00") for d in range(1, 40)))
    await db.execute("INSERT INTO score_cells VALUES ('growth', 'A', 9, 9, 'stale', false, false, 5, 5, 5)")
    await run_batch(engine, settings, as_of=NOW)
    rows = await db.fetch("SELECT * FROM score_cells")
    assert len(rows) == len({tuple(r[k] for k in KEY) for r in rows})  # rebuilt: one row per cell
    await assert_cells_current(db)
    # The swapped-in table carries the triggers: later events are still counted.
    await deliver(api, order_created(uuid.uuid4(), NOW - timedelta(days=2), "75.00"))
    await assert_cells_current(db)


async def test_counts_from_the_cells_equal_counts_on_the_table(reader, db):
    await seed_base(db)
    await db.execute("UPDATE customer_scores SET stage = 'growth' WHERE abc_class = 'A'")
    cases = [
        ({}, "true"),
        ({"stage": ["growth", "decline"]}, "stage IN ('growth', 'decline')"),
        ({"abc_class": "C", "gold": "false"}, "abc_class = 'C' AND NOT gold"),
        ({"drag": "true"}, "drag"),
        ({"stage": "growth", "clv_min": "10"}, "stage = 'growth' AND clv >= 10"),  # a range: counted on the table
    ]
    for params, where in cases:
        r = await reader.get("/api/v1/scores/customers/count", params=params)
        assert r.status_code == 200, r.text
        assert r.json()["count"] == await db.fetchval(f"SELECT count(*) FROM customer_scores WHERE {where}")
