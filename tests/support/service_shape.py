"""What every service with a database passes, whatever its domains: it starts as its own process, /readyz
follows its migrations, the migrated schema is exactly what its models and the shared infrastructure tables
declare, and its migrations go down to base and up again. Each service's tests call these with its own
package (the new-service scaffold's tests/<service>/test_health.py does)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi import FastAPI
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from crm_shared.infra_tables import infra_metadata
from crm_shared.migrations import alembic_config, upgrade_head
from crm_shared.testing import ServerProcess, app_client

TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"


def check_starts(factory: str, env: dict[str, str]) -> None:
    """The app factory serves as its own uvicorn process, as `make run` and the images start it."""
    with ServerProcess(factory, env) as server:
        server.wait_ready()
        assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}


async def check_readyz_follows_migrations(app: FastAPI, db: asyncpg.Connection) -> None:
    """Ready at head; 503 once the database is at a revision this code knows is older."""
    async with app_client(app) as client:
        assert (await client.get("/readyz")).status_code == 200
        app.state.known_revisions = app.state.known_revisions | {"older"}
        await db.execute("UPDATE alembic_version SET version_num = 'older'")
        behind = await client.get("/readyz")
        assert behind.status_code == 503
        assert behind.json()["status"] == "migrations behind"


async def schema_drift(db_url: str, metadata: MetaData) -> list[Any]:
    """What Alembic's autogenerate would change to make the migrated database match the models: [] when
    the migrations and the models agree."""
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), [metadata, infra_metadata]
                )
            )
    finally:
        await engine.dispose()


async def check_down_and_up(service_dir: Path, db_url: str, db: asyncpg.Connection, metadata: MetaData) -> None:
    """Every downgrade drops what its upgrade made, and head can be reached again from base."""
    await asyncio.to_thread(command.downgrade, alembic_config(service_dir, db_url), "base")
    assert {r[0] for r in await db.fetch(TABLES)} == {"alembic_version"}
    await asyncio.to_thread(upgrade_head, service_dir, db_url)
    assert {r[0] for r in await db.fetch(TABLES)} == {"alembic_version", *infra_metadata.tables, *metadata.tables}
