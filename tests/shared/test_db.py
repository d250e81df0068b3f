"""Raw driver statements run inside the session's transaction, even as its first statement."""

from sqlalchemy.ext.asyncio import create_async_engine

from crm_shared.db import create_sessionmaker, driver_connection


async def test_raw_statement_first_is_rolled_back_with_the_session(db_url, db):
    engine = create_async_engine(db_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            conn = await driver_connection(session)
            await conn.execute(
                "INSERT INTO inbox_events (event_id, event_type, source) VALUES (gen_random_uuid(), 't', 's')"
            )
            await session.rollback()
        assert await db.fetchval("SELECT count(*) FROM inbox_events") == 0
        async with create_sessionmaker(engine)() as session, session.begin():
            conn = await driver_connection(session)
            await conn.execute(
                "INSERT INTO inbox_events (event_id, event_type, source) VALUES (gen_random_uuid(), 't', 's')"
            )
        assert await db.fetchval("SELECT count(*) FROM inbox_events") == 1
    finally:
        await engine.dispose()
