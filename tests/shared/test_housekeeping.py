"""Housekeeping deletes exactly what is due and keeps the rest."""

import uuid

from sqlalchemy.ext.asyncio import create_async_engine

from crm_shared.housekeeping import Retention, run_once


async def test_deletes_only_what_is_due(db_url, db):
    await db.execute(
        "INSERT INTO idempotency_keys (client_id, key, method, path, request_hash, expires_at) VALUES "
        "('c', 'old', 'POST', '/x', '\\x00', now() - interval '1 hour'), "
        "('c', 'new', 'POST', '/x', '\\x00', now() + interval '1 hour')"
    )
    await db.execute(
        "INSERT INTO outbox_messages (event_count, event_types, events, pending, delivered_at, created_at) VALUES "
        "(1, '{a}', '[]', '{}', now() - interval '8 days', now() - interval '8 days'), "
        "(1, '{a}', '[]', '{}', now() - interval '1 day', now() - interval '1 day'), "
        "(1, '{a}', '[]', '{s}', NULL, now() - interval '30 days')"  # never delivered: kept whatever its age
    )
    old, new = uuid.uuid4(), uuid.uuid4()
    await db.execute(
        "INSERT INTO inbox_events (event_id, event_type, source, received_at) VALUES "
        "($1, 't', 's', now() - interval '31 days'), ($2, 't', 's', now())",
        old,
        new,
    )
    engine = create_async_engine(db_url)
    try:
        deleted = await run_once(engine, Retention(outbox_days=7, inbox_days=30))
    finally:
        await engine.dispose()
    assert deleted == {"idempotency_keys": 1, "outbox_messages": 1, "inbox_events": 1}
    assert [r[0] for r in await db.fetch("SELECT key FROM idempotency_keys")] == ["new"]
    assert await db.fetchval("SELECT count(*) FROM outbox_messages") == 2
    assert await db.fetchval("SELECT count(*) FROM outbox_messages WHERE delivered_at IS NULL") == 1
    assert [r[0] for r in await db.fetch("SELECT event_id FROM inbox_events")] == [new]
