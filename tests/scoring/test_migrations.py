"""Scoring migrations: the schema is what the models declare; down and up again; seeded rules and formula."""

import asyncio

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from crm_scoring.formulas.engine import DEFAULT_FORMULA
from crm_scoring.main import SERVICE_DIR
from crm_scoring.models import Base
from crm_scoring.rules.schemas import defaults
from crm_shared.infra_tables import infra_metadata
from crm_shared.migrations import alembic_config, upgrade_head

pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


async def test_schema_matches_models(db_url):
    engine = create_async_engine(db_url)
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), [Base.metadata, infra_metadata]
            )
        )
    await engine.dispose()
    assert diff == []


async def test_seeds_match_the_code_defaults(db):
    rows = {r["name"]: r["rules"] for r in await db.fetch("SELECT name, rules::text AS rules FROM rule_sets")}
    import json

    assert {k: json.loads(v) for k, v in rows.items()} == defaults()
    active = await db.fetch("SELECT version, formula::text AS f FROM formula_versions WHERE status = 'active'")
    assert len(active) == 1
    assert json.loads(active[0]["f"]) == DEFAULT_FORMULA


async def test_downgrade_to_base_and_up_again(db_url, db):
    cfg = alembic_config(SERVICE_DIR, db_url)
    await asyncio.to_thread(command.downgrade, cfg, "base")
    tables = {r[0] for r in await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables == {"alembic_version"}
    await asyncio.to_thread(upgrade_head, SERVICE_DIR, db_url)
    tables = {r[0] for r in await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"purchases", "customer_scores", "formula_versions", "rule_sets", "outbox_messages"} <= tables


async def test_the_batch_table_swap_keeps_the_schema(db_url, db):
    """The batch rebuilds customer_scores beside the old table and swaps it in: same columns, defaults,
    constraints and index names as the models declare."""
    from crm_scoring.batch.runner import run_batch
    from crm_scoring.config import Settings
    from crm_shared.db import create_engine

    await db.execute(
        "INSERT INTO purchases (order_id, customer_id, ordered_at, amount, currency) "
        "VALUES (gen_random_uuid(), gen_random_uuid(), now() - interval '3 days', 10, 'EUR')"
    )
    await db.execute("INSERT INTO known_customers (customer_id) SELECT customer_id FROM purchases")
    engine = create_async_engine(db_url)
    batch_engine = create_engine(db_url, application_name="test")
    try:
        for _ in range(2):
            await run_batch(batch_engine, Settings(database_url=db_url))
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), [Base.metadata, infra_metadata]
                )
            )
    finally:
        await engine.dispose()
        await batch_engine.dispose()
    assert diff == []
    assert await db.fetchval("SELECT count(*) FROM customer_scores") == 1
