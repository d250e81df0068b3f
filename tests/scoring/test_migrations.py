"""Scoring migrations: the schema is what the models declare; down and up again; seeded rules and formula."""

import asyncio

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from crm_scoring.main import SERVICE_DIR
from crm_scoring.models import Base
from crm_scoring.rules.schemas import defaults
from crm_scoring.value.formulas import DEFAULT_FORMULA
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
