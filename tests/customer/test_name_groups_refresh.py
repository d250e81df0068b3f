"""The name groups' background refresh (hygiene/worker.py, issue 13): the duplicates listing answers from the kept
groups without recomputing and says how many companies are behind; the refresh takes marked companies in small
transactions; two workers (replicas) never take the same company, and together leave exactly the groups of
comparing every company's members; the app's worker is woken by any write that marks a company (a
notification, not the poll), and /metrics reports the companies waiting."""

import asyncio
import uuid

import asyncpg
import pytest

from crm_customer.hygiene import repository
from crm_customer.hygiene.service import refresh_name_groups
from crm_customer.main import create_app
from crm_shared.embedded_pg import asyncpg_dsn
from crm_shared.testing import app_client, eventually, user_headers

from .helpers import idem
from .test_name_groups import compared, listed

URL = "/api/v1/customers"
STAFF = user_headers("u1", "customers:read", "customers:write", "pii:read")


@pytest.fixture
async def client(settings):
    """The background refresh off: the tests run it where they mean to."""
    async with app_client(create_app(settings.model_copy(update={"name_groups_worker": False})), headers=STAFF) as c:
        yield c


async def _companies(db: asyncpg.Connection, n: int, members: tuple[str, ...] = ("Li Wei", "li  wei.")) -> list[str]:
    """`n` companies (by SQL, one statement each kind), each with `members`: every company is marked."""
    ids = [uuid.uuid4() for _ in range(n)]
    await db.execute(
        "INSERT INTO customers (id, kind, display_name, company_name)"
        " SELECT i, 'company', 'Co', 'Co' FROM unnest($1::uuid[]) i",
        ids,
    )
    await db.execute(
        "INSERT INTO customers (kind, display_name, company_id) SELECT 'individual', m, c"
        " FROM unnest($1::uuid[]) c, unnest($2::text[]) m",
        ids,
        list(members),
    )
    return sorted(str(i) for i in ids)


async def _pending(client) -> int:
    r = await client.get(f"{URL}/duplicates", params={"reason": "name"})
    assert r.status_code == 200, r.text
    return r.json()["pending_companies"]


async def test_the_listing_answers_from_the_kept_groups_without_recomputing(client, db):
    companies = await _companies(db, 3)
    marks = await db.fetchval("SELECT count(*) FROM name_group_marks")
    assert await listed(client) == []  # not recomputed by the listing...
    assert await _pending(client) == 3  # ...which says so
    assert await db.fetchval("SELECT count(*) FROM name_group_marks") == marks  # and took no mark
    every = (await client.get(f"{URL}/duplicates")).json()
    assert every["pending_companies"] == 3
    assert (await client.get(f"{URL}/duplicates", params={"reason": "email"})).json()["pending_companies"] is None

    assert await refresh_name_groups(db, 2) == 2  # one small transaction
    assert await _pending(client) == 1
    assert [c for c, _ in await listed(client)] == companies[:2]  # in company order: the first two
    assert await refresh_name_groups(db, 2) == 1
    assert await refresh_name_groups(db, 2) == 0
    assert await _pending(client) == 0
    assert await listed(client) == await compared(db)
    # A rename shows once refreshed; until then the group is listed as it was.
    before = await listed(client)
    await db.execute(
        "UPDATE customers SET display_name = 'Zed' WHERE display_name = 'Li Wei' AND company_id = $1",
        uuid.UUID(companies[0]),
    )
    assert await listed(client) == before
    assert await _pending(client) == 1
    assert await refresh_name_groups(db) == 1
    assert await listed(client) == await compared(db) == before[1:]


async def test_two_workers_never_take_the_same_company(db, db_url):
    await _companies(db, 4)
    other = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        async with db.transaction():
            mine = await repository.claim_name_group_marks(db, 2)
            assert len(mine) == 2
            # A change to a company held by the first worker, committed while it recomputes: its new mark waits.
            await other.execute("UPDATE customers SET display_name = 'Bo' WHERE company_id = $1", mine[0])
            async with other.transaction():
                theirs = await repository.claim_name_group_marks(other, 10)
            assert len(theirs) == 2  # the two free companies: neither held one nor its fresh mark
            assert not set(theirs) & set(mine)
        # Once the first has committed, the change left behind is taken (by either).
        async with other.transaction():
            assert await repository.claim_name_group_marks(other, 10) == [mine[0]]
    finally:
        await other.close()


async def test_a_backlog_is_claimed_quickly_by_a_plan_made_while_nothing_was_marked(db):
    """The worker claims every poll with nothing marked, so its connections keep a generic plan made for an empty
    table (after a catch-up its marks are all deleted and vacuumed away). A backlog arriving then must not make
    that plan quadratic: joined to the marked rows, it rescanned the table per row (20,000 marks: 14 minutes and on)."""
    await db.execute("VACUUM ANALYZE name_group_marks")  # empty, as once caught up
    await db.execute("SET plan_cache_mode = force_generic_plan")  # what 5 executions of a statement lead to
    try:
        for _ in range(2):
            async with db.transaction():
                assert await repository.claim_name_group_marks(db, 200) == []
        await db.execute("INSERT INTO name_group_marks SELECT gen_random_uuid() FROM generate_series(1, 5000)")
        await db.execute("SET statement_timeout = '5s'")  # the join took minutes here
        async with db.transaction():
            assert len(await repository.claim_name_group_marks(db, 200)) == 200
        assert await db.fetchval("SELECT count(*) FROM name_group_marks") == 4800
    finally:
        await db.execute("RESET plan_cache_mode; RESET statement_timeout")


async def test_concurrent_workers_share_a_backlog_and_agree_with_comparing(client, db, db_url):
    await _companies(db, 40)
    await _companies(db, 10, ("Ana Ruiz", "Anna Ruiz", "Bo Chen"))
    conns = [await asyncpg.connect(asyncpg_dsn(db_url)) for _ in range(3)]
    try:

        async def worker(conn: asyncpg.Connection) -> int:
            total = 0
            while n := await refresh_name_groups(conn, 4):
                total += n
                await asyncio.sleep(0)
            return total

        done = await asyncio.gather(*(worker(c) for c in conns))
    finally:
        for conn in conns:
            await conn.close()
    assert sum(done) == 50  # each company recomputed once, by one of them
    assert await db.fetchval("SELECT count(*) FROM name_group_marks") == 0
    groups = await listed(client)
    assert len(groups) == 50
    assert groups == await compared(db)


async def test_the_pending_companies_gauge(client, db):
    await _companies(db, 3)
    assert "crm_customer_name_groups_pending_companies 3.0" in (await client.get("/metrics")).text
    await refresh_name_groups(db)
    assert "crm_customer_name_groups_pending_companies 0.0" in (await client.get("/metrics")).text


async def test_the_apps_worker_is_woken_by_every_write_that_marks(settings, db):
    slow = settings.model_copy(update={"name_groups_poll_seconds": 3600})  # only a notification starts a pass
    app = create_app(slow)
    async with app_client(app, headers=STAFF) as client:
        worker = app.state.name_groups_worker
        await eventually(lambda: _listening(worker))
        await eventually(lambda: _is(client, 0))  # the first pass: nothing marked
        await _companies(db, 3)  # by SQL: the trigger's notification, not the API, wakes it
        await eventually(lambda: _is(client, 0), within=10)
        assert await listed(client) == await compared(db)
        assert len(await listed(client)) == 3
        company = (await listed(client))[0][0]
        a, b = (await listed(client))[0][1]
        merged = await client.post(f"{URL}/{a}/merge", json={"merged_id": b}, headers=idem())
        assert merged.status_code == 200, merged.text
        await eventually(lambda: _is(client, 0), within=10)
        assert company not in [c for c, _ in await listed(client)]  # the merged pair is no group any more
        assert await listed(client) == await compared(db)
        assert worker.refreshed == 4


async def _listening(worker) -> bool:
    return worker._listening is not None


async def _is(client, pending: int) -> bool:
    return await _pending(client) == pending
