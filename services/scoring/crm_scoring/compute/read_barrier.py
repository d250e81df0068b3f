"""The line between what a batch read sees and what it must leave alone.

A batch reads every customer's inputs (purchases, attributes) at one moment and writes scores much later.
Meanwhile events change inputs and rescore customers; the batch must keep those newer scores. It keeps every
row whose `computed_at` is at or after its read started, which is only safe if an input change the read did
not see always lands in a row stamped after that instant. The barrier makes it so: event transactions hold
a shared advisory lock from before they change inputs until they commit; the batch takes the lock
exclusively, which waits for transactions in flight (their changes are then visible to its read), notes the
time, and lets go. A transaction that changes inputs after that stamps its rows later (`clock_timestamp()`
at the write, not the transaction's start)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

# Any fixed 64-bit key of this service's database; it only needs to be the same for both sides.
_KEY = 0x5C0_0001


async def hold_for_input_change(conn: asyncpg.Connection) -> None:
    """Before an event transaction changes scoring inputs; held until it commits. Shared: events never wait
    for each other here, only for a batch taking its read time (milliseconds)."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", _KEY)


async def mark_read_start(conn: asyncpg.Connection, lock_timeout: str = "60s") -> datetime:
    """In a transaction of its own, which the caller commits at once: the instant after which every input
    change is either visible to a read started now or stamped later on its score row."""
    await conn.execute(f"SET LOCAL lock_timeout = '{lock_timeout}'")
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _KEY)
    return await conn.fetchval("SELECT clock_timestamp()")
