"""The batch and events at the same time: events are not held up while the batch writes, what they wrote
survives the table swap, and the batch's read sees every input change it does not leave to an event."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from crm_scoring.batch import runner
from crm_scoring.batch.runner import run_batch
from crm_scoring.compute.read_barrier import hold_for_input_change, mark_read_start
from crm_shared.embedded_pg import asyncpg_dsn
from tests.scoring.events import deliver, merged, order_created

NOW = datetime.now(UTC).replace(microsecond=0)


async def _orders(db, customer: uuid.UUID) -> int:
    return await db.fetchval("SELECT order_count FROM customer_scores WHERE customer_id = $1", customer)


async def test_events_during_the_write_are_not_blocked_and_survive_the_swap(api, db, engine, settings, monkeypatch):
    ids = [uuid.uuid4() for _ in range(40)]
    events = [
        order_created(c, NOW - timedelta(days=30 * k + i), f"{10 + i + k}.00")
        for i, c in enumerate(ids)
        for k in range(1 + i % 4)
    ]
    await deliver(api, *events)
    await run_batch(engine, settings)
    before = {c: await _orders(db, c) for c in ids[:3]}
    real_swap_in = runner.swap_in
    seen: dict[str, object] = {}

    async def events_arrive_then_swap(session, built, **kwargs):
        # The next table is built and indexed, the batch's transaction is open: events arrive now.
        seen["new_order"] = await deliver(api, order_created(ids[0], NOW - timedelta(hours=1), "500.00"))
        seen["merge"] = await deliver(api, merged(ids[1], ids[2]))
        return await real_swap_in(session, built, **kwargs)

    monkeypatch.setattr(runner, "swap_in", events_arrive_then_swap)
    result = await run_batch(engine, settings)

    assert set(seen) == {"new_order", "merge"}  # delivered (200) while the batch was writing
    assert await _orders(db, ids[0]) == before[ids[0]] + 1  # the event's scores, not the batch's older ones
    assert await _orders(db, ids[1]) == before[ids[1]] + before[ids[2]]  # the survivor, rescored by the merge
    assert await db.fetchval("SELECT count(*) FROM customer_scores WHERE customer_id = $1", ids[2]) == 0
    assert await db.fetchval("SELECT count(*) FROM customer_scores") == len(ids) - 1
    assert result.stats["written"] == len(ids) - 3
    assert result.stats["skipped_newer"] == 3
    # The swapped-in table still takes the events' upserts and answers reads.
    await deliver(api, order_created(ids[3], NOW - timedelta(hours=2), "20.00"))
    assert await _orders(db, ids[3]) == 4 + 1
    assert (await api.get(f"/api/v1/scores/customers/{ids[3]}")).status_code == 200


async def test_the_read_start_waits_for_input_changes_in_flight(db_url):
    dsn = asyncpg_dsn(db_url)
    event_tx, other_event_tx, batch = [await asyncpg.connect(dsn) for _ in range(3)]
    try:
        first = event_tx.transaction()
        await first.start()
        await hold_for_input_change(event_tx)
        # Events do not wait for each other.
        async with other_event_tx.transaction():
            await asyncio.wait_for(hold_for_input_change(other_event_tx), timeout=5)

        async def read_start() -> datetime:
            async with batch.transaction():
                return await mark_read_start(batch)

        marking = asyncio.create_task(read_start())
        await asyncio.sleep(0.3)
        assert not marking.done()  # an event that changed inputs has not committed yet
        committed_at = await event_tx.fetchval("SELECT clock_timestamp()")
        await first.commit()
        started = await asyncio.wait_for(marking, timeout=5)
        assert started > committed_at
    finally:
        for conn in (event_tx, other_event_tx, batch):
            await conn.close()
