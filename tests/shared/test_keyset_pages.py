"""The shared keyset page: every row exactly once in order, cursors bound to filters and order, and
the continuation a row comparison PostgreSQL starts an index scan at (so deep pages cost what the
first does)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text, Uuid, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import create_async_engine

from crm_shared.db import create_sessionmaker
from crm_shared.errors import BadRequest
from crm_shared.pagination import PageRequest, keyset_after, ordering

SECRET = "test-cursor-secret"
metadata = MetaData()
rows_table = Table(
    "keyset_rows",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("name", Text, nullable=False),
)
T = rows_table.c


@pytest.fixture
async def session_factory(db_url, db):
    await db.execute(
        "CREATE TABLE keyset_rows (id uuid PRIMARY KEY, at timestamptz NOT NULL, rank int NOT NULL, name text NOT NULL)"
    )
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    # Few distinct values per column, so ties are the rule and the id must break them.
    data = [
        (uuid.UUID(int=rng.getrandbits(128)), start + timedelta(days=rng.randrange(5)), rng.randrange(4), f"n{i % 3}")
        for i in range(157)
    ]
    await db.executemany("INSERT INTO keyset_rows VALUES ($1, $2, $3, $4)", data)
    engine = create_async_engine(db_url)
    yield create_sessionmaker(engine), data
    await engine.dispose()


async def _walk(session, order, limit, binding=None):
    cursor, seen, pages = None, [], 0
    while True:
        page = await PageRequest(cursor, limit, SECRET).fetch(
            session, select(rows_table), order=order, binding=binding or {}, scalars=False, item=lambda r: r.id
        )
        seen.extend(page.items)
        pages += 1
        if page.next_cursor is None:
            return seen, pages
        cursor = page.next_cursor


@pytest.mark.parametrize(
    ("order", "key"),
    [
        ((T.at.desc(), T.id.desc()), lambda r: (-r[1].timestamp(), _neg(r[0]))),
        ((T.rank, T.name, T.id), lambda r: (r[2], r[3], r[0])),
        ((T.rank.desc(), T.at, T.id.desc()), lambda r: (-r[2], r[1], _neg(r[0]))),  # mixed directions
    ],
    ids=["descending", "ascending", "mixed"],
)
async def test_every_row_once_in_order(session_factory, order, key):
    make, data = session_factory
    expected = [r[0] for r in sorted(data, key=key)]
    async with make() as session:
        for limit in (1, 10, 50, 157, 200):
            seen, pages = await _walk(session, order, limit)
            assert seen == expected
            assert pages == -(-len(data) // limit)  # 157 rows: no empty last page


def _neg(value: uuid.UUID) -> int:
    return -value.int


async def test_cursor_is_bound_to_filters_and_order(session_factory):
    make, _ = session_factory
    async with make() as session:
        first = await PageRequest(None, 5, SECRET).fetch(
            session, select(rows_table), order=(T.at, T.id), binding={"rank": 1}, scalars=False
        )
        assert first.next_cursor
        for order, binding in [((T.at, T.id), {"rank": 2}), ((T.at.desc(), T.id.desc()), {"rank": 1})]:
            with pytest.raises(BadRequest):
                await PageRequest(first.next_cursor, 5, SECRET).fetch(
                    session, select(rows_table), order=order, binding=binding, scalars=False
                )
        with pytest.raises(BadRequest):
            await PageRequest(first.next_cursor, 5, "another-secret").fetch(
                session, select(rows_table), order=(T.at, T.id), binding={"rank": 1}, scalars=False
            )


def _sql(clause) -> str:
    return str(clause.compile(dialect=postgresql.dialect())).replace("\n", " ")


def test_one_direction_is_a_row_comparison():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert _sql(keyset_after(ordering((T.at.desc(), T.id.desc())), [at, uuid.uuid4()])) == (
        "(keyset_rows.at, keyset_rows.id) < (%(param_1)s::TIMESTAMP WITH TIME ZONE, %(param_2)s::UUID)"
    )
    assert " > " in _sql(keyset_after(ordering((T.rank, T.id)), [1, uuid.uuid4()]))


def test_mixed_directions_bound_the_first_column():
    sql = _sql(keyset_after(ordering((T.rank.desc(), T.id)), [3, uuid.uuid4()]))
    assert sql.startswith("keyset_rows.rank <= %(param_1)s::INTEGER AND (")


async def test_deep_page_starts_an_index_scan_at_the_position(session_factory, db):
    """The plan for a page far down reads only the page: the row comparison is the index condition."""
    make, _ = session_factory
    await db.execute("CREATE INDEX ON keyset_rows (at DESC, id DESC)")
    await db.execute("ANALYZE keyset_rows")
    at, rid = datetime(2026, 1, 2, tzinfo=UTC), uuid.UUID(int=0)
    async with make() as session:
        stmt = (
            select(rows_table)
            .where(keyset_after(ordering((T.at.desc(), T.id.desc())), [at, rid]))
            .order_by(T.at.desc(), T.id.desc())
            .limit(3)
        )
        compiled = stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
        async with session.begin():
            conn = await session.connection()
            await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = "\n".join(r[0] for r in (await conn.exec_driver_sql(f"EXPLAIN {compiled}")).all())
    assert "Index Cond: (ROW(at, id) < ROW(" in plan, plan
    assert "Filter" not in plan, plan


def test_order_terms_are_columns_or_directions():
    with pytest.raises(ValueError, match=r"asc\(\) or desc\(\)"):
        ordering((T.rank.desc().nulls_last(),))
    assert ordering((T.rank, T.id.desc())) == [(T.rank, False), (T.id, True)]


async def test_a_cursor_of_another_shape_is_refused(session_factory):
    make, _ = session_factory
    async with make() as session:
        first = await PageRequest(None, 5, SECRET).fetch(
            session, select(rows_table), order=(T.name, T.id), binding={}, scalars=False
        )
        # Same binding, same order names, other column types: the position does not convert.
        other = Table("keyset_rows", MetaData(), Column("id", Uuid), Column("name", Integer))
        with pytest.raises(BadRequest):
            await PageRequest(first.next_cursor, 5, SECRET).fetch(
                session, select(other), order=(other.c.name, other.c.id), binding={}, scalars=False
            )
