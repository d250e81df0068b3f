"""Async SQLAlchemy engine and session helpers, and the one-transaction-per-request dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

import asyncpg
import msgspec
from fastapi import Depends, Request, Response
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import PoolProxiedConnection

from . import audit

# Stable constraint names, so Alembic migrations can refer to them (Polar, kit/db/models/base.py).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    """A MetaData with the project's naming convention; each service's models get their own."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def _json_dumps(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def create_engine(
    url: str, *, application_name: str, pool_size: int = 10, max_overflow: int = 20, lock_timeout_ms: int = 3000
) -> AsyncEngine:
    # lock_timeout: a statement waiting longer than this for a row lock fails (55P03) and the request
    # gets 409 + Retry-After, instead of requests piling up behind one slow transaction.
    server_settings = {"application_name": application_name, "timezone": "UTC", "lock_timeout": str(lock_timeout_ms)}
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        json_serializer=_json_dumps,
        # Statement parameters hold emails and phones: never in exception messages, hence never in logs.
        hide_parameters=True,
        connect_args={"server_settings": server_settings},
    )


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The session's own asyncpg connection, inside its transaction: for bulk statements and for the
    infrastructure statements on every write path, where SQLAlchemy's per-statement cost (~0.2 ms)
    would dominate."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    # SQLAlchemy's asyncpg adapter sends BEGIN lazily, with its first statement. A raw statement sent
    # before that would run in autocommit, outside the request's transaction: begin it now.
    adapted = raw.dbapi_connection
    if getattr(adapted, "_transaction", True) is None and getattr(adapted, "isolation_level", "") != "autocommit":
        start = getattr(adapted, "_start_transaction", None)
        if start is not None:
            await start()
        else:  # pragma: no cover - a future SQLAlchemy without the hook: any statement begins it
            await conn.exec_driver_sql("SELECT 1")
    return _asyncpg(raw)


async def asyncpg_connection(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under a connection taken from the engine (no session): for a statement
    that commits on its own or a read outside any request transaction."""
    return _asyncpg(await conn.get_raw_connection())


def _asyncpg(raw: PoolProxiedConnection) -> asyncpg.Connection:
    # SQLAlchemy types the driver's connection Optional[Any]: None only once the pool has closed it, never
    # while the AsyncConnection it came from is open. The engine's driver is asyncpg.
    driver: asyncpg.Connection | None = raw.driver_connection
    assert driver is not None, "the pooled connection is open"
    return driver


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False, autoflush=False
    )


def create_sessionmaker(engine: AsyncEngine, *, subscriptions: Sequence[Any] = ()) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after commit, without a lazy reload under async.
    # The subscriptions ride along in session.info so `outbox.publish` knows who is owed each event.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, info={"subscriptions": subscriptions})


class EarlyAnswer(Exception):
    """Raised through a request's transaction to answer with `response` before the handler runs, while
    the transaction still commits what it holds (bookkeeping only, e.g. the audit row of a replay)."""

    def __init__(self, response: Response) -> None:
        super().__init__("answered before the handler")
        self.response = response


async def answer_early(request: Request, exc: Exception) -> Response:
    """The app's exception handler for `EarlyAnswer`."""
    assert isinstance(exc, EarlyAnswer)
    return exc.response


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns, rolled back on error.

    Used with scope="function" so the commit happens *before* the response is sent: a client is
    never told "created" about a write that then failed to commit. An API write's audit row is
    inserted just before the commit, so it commits or rolls back with the change.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    audit.claim(request, transactional=True)
    replay: EarlyAnswer | None = None
    async with sessionmaker() as session, session.begin():
        try:
            yield session
        except EarlyAnswer as exc:  # e.g. an idempotent replay: commit its audit row, then answer
            replay = exc
        if audit.due(request, transactional=True):
            await audit.record(request, await driver_connection(session), session.info)
    if replay is not None:
        raise replay
    if session.info.get("outbox_written"):
        request.app.state.relay_wakeup()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """For handlers that only read: autocommit, so no BEGIN/COMMIT round trips (half of a simple
    read's cost). Each statement sees committed data; use SessionDep where reads must agree."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.read_sessionmaker
    audit.claim(request, transactional=False)
    async with sessionmaker() as session:
        yield session
        if audit.due(request, transactional=False):  # a read of unmasked personal data
            await audit.record(request, await driver_connection(session))


ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
