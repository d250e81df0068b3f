"""The embedded PostgreSQL (the `pgserver` wheel: a real server binary) used when no DATABASE_URL is
configured, and helpers to create databases on whichever server is in use."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer


def start_embedded(data_dir: Path) -> tuple[PostgresServer, str]:
    """Start (or join) the embedded server in `data_dir`; return (handle, admin URL). The server stops
    when the last process using it exits."""
    from pgserver.postgres_server import get_server  # optional dependency: only needed without an external server

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(str(data_dir), cleanup_mode="stop")
    return server, server.get_uri()


def asyncpg_dsn(url: str, database: str | None = None) -> str:
    """A SQLAlchemy URL (any driver) as the plain DSN asyncpg.connect takes, optionally for another database."""
    u = make_url(url).set(drivername="postgresql")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


def database_url(admin_url: str, database: str) -> str:
    """The asyncpg SQLAlchemy URL of `database` on the admin URL's server."""
    return (
        make_url(admin_url)
        .set(drivername="postgresql+asyncpg", database=database)
        .render_as_string(hide_password=False)
    )


async def create_database(admin_url: str, name: str, *, template: str | None = None, exist_ok: bool = True) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(admin_url, "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists and exist_ok:
            return
        tpl = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{tpl}')
    finally:
        await conn.close()


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(admin_url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def ensure_database(admin_url: str, name: str) -> None:
    asyncio.run(create_database(admin_url, name))
