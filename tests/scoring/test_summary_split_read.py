"""The batch's order read split over two connections in one snapshot (halves of the table's pages): the same
summaries as one connection, and an order committed after the snapshot is seen by neither half."""

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np

from crm_scoring.compute.summary import read_summaries, share_snapshot
from crm_shared.embedded_pg import asyncpg_dsn
from tests.scoring.helpers import insert_known, insert_purchase

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


async def test_two_halves_read_what_one_connection_reads(db: asyncpg.Connection, db_url: str) -> None:
    rng = np.random.default_rng(17)
    ids = [uuid.UUID(bytes=rng.bytes(16), version=4) for _ in range(60)]
    buyers = set()
    for c in ids:
        await insert_known(db, c)
        for _ in range(int(rng.integers(0, 6))):
            buyers.add(c)
            ordered = AS_OF - timedelta(days=float(rng.uniform(1, 700)))
            await insert_purchase(db, c, ordered, f"{rng.uniform(5, 300):.2f}")
    pages = await db.fetchval("SELECT pg_relation_size('purchases') / current_setting('block_size')::int")
    assert pages >= 2  # both halves hold orders
    late = max(ids)
    one = await read_summaries(db, AS_OF, trend_window_days=90, earlier=AS_OF - timedelta(days=120))

    first, second = await asyncpg.connect(asyncpg_dsn(db_url)), await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        async with first.transaction(isolation="repeatable_read"), second.transaction(isolation="repeatable_read"):
            await share_snapshot(first, second)
            await insert_purchase(db, late, AS_OF - timedelta(days=2), "999.00")  # committed after the snapshot
            split = await read_summaries(
                first, AS_OF, trend_window_days=90, earlier=AS_OF - timedelta(days=120), helper=second
            )
    finally:
        await first.close()
        await second.close()

    assert len(split) == len(one) == len(buyers)  # known customers created after AS_OF are not prospects then
    for name, values in one.columns.items():
        assert np.array_equal(split[name], values, equal_nan=values.dtype.kind == "f"), name
    assert one.earlier is not None
    assert split.earlier is not None
    for name, values in one.earlier.columns.items():
        assert np.array_equal(split.earlier[name], values, equal_nan=values.dtype.kind == "f"), name
    now = await read_summaries(db, AS_OF, trend_window_days=90)
    assert now["n_orders"].sum() == one["n_orders"].sum() + 1  # the late order exists, only after the snapshot
