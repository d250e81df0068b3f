"""Alembic helpers shared by every service: one env.py body, infrastructure DDL, head checks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, pool, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .infra_tables import infra_metadata


def alembic_config(service_dir: Path, database_url: str) -> Config:
    """The Alembic config of the service whose folder (holding alembic.ini) is `service_dir`."""
    cfg = Config(str(service_dir / "alembic.ini"))
    cfg.set_main_option("script_location", str(service_dir / "migrations"))
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade_head(service_dir: Path, database_url: str) -> None:
    command.upgrade(alembic_config(service_dir, database_url), "head")


def head_revision(service_dir: Path) -> str | None:
    return ScriptDirectory.from_config(alembic_config(service_dir, "")).get_current_head()


def known_revisions(service_dir: Path) -> frozenset[str]:
    """Every revision this code knows; a database at another one was migrated by newer code."""
    script = ScriptDirectory.from_config(alembic_config(service_dir, ""))
    return frozenset(rev.revision for rev in script.walk_revisions())


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        exists = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
        if not exists:
            return None
        revision: str | None = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        return revision


def run_env(target_metadata: MetaData, default_url: Callable[[], str]) -> None:
    """The whole body of a service's migrations/env.py (online mode, asyncpg). The URL comes from
    the caller (tests, the launcher) or else from the service's own settings."""
    url = context.config.attributes.get("database_url") or default_url()
    metadata = [target_metadata, infra_metadata]

    def do_run(connection: Connection) -> None:
        # Two deploys migrating at once (replicas, jobs) take turns instead of racing.
        # Session-level lock; commit the statement's implicit transaction so that Alembic's own
        # transaction is the outer one (otherwise the migration would never commit).
        connection.execute(text("SELECT pg_advisory_lock(hashtext('crm_alembic_migrations'))"))
        connection.commit()
        try:
            context.configure(connection=connection, target_metadata=metadata, compare_type=True)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(hashtext('crm_alembic_migrations'))"))
            connection.commit()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(run_async())
        return
    raise RuntimeError("run migrations from a thread without a running event loop (asyncio.to_thread)")


# The DDL of the shared tables is frozen here by version, so an old migration keeps creating exactly
# what it created when it was written. Each later change adds create_infrastructure_vN (the delta; v2:
# the audit log; v3: the inbox's dead letters) and every service calls it from a new migration; tests
# compare the migrated schema with infra_tables.
def create_infrastructure_v1(op: Operations) -> None:
    """Create the outbox, inbox and idempotency tables; called from each service's first migration."""
    op.create_table(
        "idempotency_keys",
        sa.Column("client_id", sa.String(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(), nullable=False),
        sa.Column("response_status", sa.SmallInteger(), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("response_type", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"], unique=False)
    op.create_table(
        "inbox_events",
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_inbox_events")),
    )
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.String()), nullable=False),
        sa.Column("events", sa.LargeBinary(), nullable=False),
        sa.Column("pending", postgresql.ARRAY(sa.String()), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dead", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
    )
    op.create_index(
        "ix_outbox_messages_due",
        "outbox_messages",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("delivered_at IS NULL AND NOT dead"),
    )
    # Large bodies are written once and read rarely: skip TOAST compression (pglz costs more than I/O).
    op.execute("ALTER TABLE outbox_messages ALTER COLUMN events SET STORAGE EXTERNAL")
    op.execute("ALTER TABLE idempotency_keys ALTER COLUMN response_body SET STORAGE EXTERNAL")


def drop_infrastructure_v1(op: Operations) -> None:
    op.drop_index(
        "ix_outbox_messages_due",
        table_name="outbox_messages",
        postgresql_where=sa.text("delivered_at IS NULL AND NOT dead"),
    )
    op.drop_table("outbox_messages")
    op.drop_table("inbox_events")
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")


def create_infrastructure_v2(op: Operations) -> None:
    """Add the audit log; called from each service's migration after its first."""
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("roles", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at_id", "audit_log", ["at", "id"], unique=False)
    op.create_index("ix_audit_log_actor_at_id", "audit_log", ["actor", "at", "id"], unique=False)
    op.create_index("ix_audit_log_action_at_id", "audit_log", ["action", "at", "id"], unique=False)
    # text_pattern_ops: the index serves `resource LIKE 'prefix%'` whatever the database's collation.
    op.create_index("ix_audit_log_resource", "audit_log", ["resource"], postgresql_ops={"resource": "text_pattern_ops"})
    op.create_index("ix_audit_log_request_id", "audit_log", ["request_id"], unique=False)


def drop_infrastructure_v2(op: Operations) -> None:
    op.drop_table("audit_log")  # its indexes go with it


def create_infrastructure_v3(op: Operations) -> None:
    """Add the inbox's dead letters (events a consumer could not apply); called from each service's
    migration after the audit log's."""
    op.create_table(
        "inbox_dead_letters",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=True),
        sa.Column("event_type", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("dead_lettered_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_dead_letters")),
        sa.UniqueConstraint("event_id", name=op.f("uq_inbox_dead_letters_event_id")),
    )


def drop_infrastructure_v3(op: Operations) -> None:
    op.drop_table("inbox_dead_letters")
