"""Migrations: the migrated schema is exactly what the models declare; down and up again work;
/readyz reports a database behind the code's head."""

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from crm_customer.config import Settings
from crm_customer.main import SERVICE_DIR, create_app
from crm_customer.models import Base
from crm_shared.embedded_pg import asyncpg_dsn
from crm_shared.infra_tables import infra_metadata
from crm_shared.migrations import alembic_config, upgrade_head
from crm_shared.testing import app_client

pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


async def test_schema_matches_models(db_url):
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(db_url)
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True, "include_object": _not_server_dependent}),
                [Base.metadata, infra_metadata],
            )
        )
    await engine.dispose()
    assert diff == []


def _not_server_dependent(obj, name, type_, reflected, compare_to) -> bool:
    # The trigram index exists only where the server ships pg_trgm (not the embedded one): no model holds it.
    return name != "ix_customers_display_name_trgm"


async def test_downgrade_to_base_and_up_again(db_url):
    import asyncio

    cfg = alembic_config(SERVICE_DIR, db_url)
    await asyncio.to_thread(command.downgrade, cfg, "base")
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        tables = {r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert tables == {"alembic_version"}
        await asyncio.to_thread(upgrade_head, SERVICE_DIR, db_url)
        tables = {r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert {"customers", "customer_refs", "orders", "outbox_messages", "inbox_events", "idempotency_keys"} <= tables
    finally:
        await conn.close()


async def test_readyz_follows_migrations(db_url, db):
    app = create_app(Settings(database_url=db_url, log_level="WARNING"))
    async with app_client(app) as client:
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        await db.execute("UPDATE alembic_version SET version_num = 'from_newer_code'")
        assert (await client.get("/readyz")).status_code == 200  # rolling upgrade: newer schema
        app.state.known_revisions = app.state.known_revisions | {"older"}
        await db.execute("UPDATE alembic_version SET version_num = 'older'")
        behind = await client.get("/readyz")
        assert behind.status_code == 503
        assert behind.json()["status"] == "migrations behind"
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200
        assert "http_requests_total" in metrics.text or "http_request_duration" in metrics.text
