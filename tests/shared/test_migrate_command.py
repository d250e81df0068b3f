"""`python -m crm_shared.migrate`: a deployment's migration Job may connect as a role that owns the schema
(ALEMBIC_DATABASE_URL) rather than with the service's own URL."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from crm_shared import migrate
from crm_shared.embedded_pg import create_database, database_url


async def test_alembic_database_url_is_the_database_migrated(pg_admin_url: str, monkeypatch) -> None:
    name = f"test_migrate_{uuid.uuid4().hex[:10]}"
    await create_database(pg_admin_url, name, exist_ok=False)
    target = database_url(pg_admin_url, name)
    monkeypatch.setenv("ALEMBIC_DATABASE_URL", target)
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")  # the service's URL: unused
    await asyncio.to_thread(migrate.main, ["churn"])
    conn = await asyncpg.connect(target.replace("postgresql+asyncpg", "postgresql"))
    try:
        assert await conn.fetchval("SELECT version_num FROM alembic_version") is not None
    finally:
        await conn.close()


def test_one_owner_url_migrates_one_service(monkeypatch) -> None:
    monkeypatch.setenv("ALEMBIC_DATABASE_URL", "postgresql://owner@db/customer")
    with pytest.raises(SystemExit):
        migrate.main(["customer", "scoring"])
