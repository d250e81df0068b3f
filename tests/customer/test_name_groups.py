"""Kept name groups (hygiene/models.py NameGroup, customer migration 0008): after random creates, renames, moves
between companies, merges (of members and of companies), many-row SQL writes and deletes, and the background
refresh, the duplicates list's name groups are exactly what comparing every company's members answers (what the
listing itself computed before the refresh moved to the background), and a refresh recomputes only the
companies that changed since the last one. The worker is off here: each test refreshes where it means to."""

import random
import uuid

import asyncpg
import pytest

from crm_customer.hygiene.names import name_clusters
from crm_customer.hygiene.repository import company_members
from crm_customer.hygiene.service import MEMBERS_BOUND, refresh_name_groups
from crm_customer.main import create_app
from crm_shared.testing import app_client, user_headers

from .helpers import idem

URL = "/api/v1/customers"
STAFF = user_headers("u1", "customers:read", "customers:write", "pii:read")
NAMES = [("John", "Smith"), ("Jon", "Smith"), ("john", "smith."), ("Maria", "Lopez"), ("María", "López")]
NAMES += [("Mario", "Lopes"), ("Ana", "Ruiz"), ("Anna", "Ruiz"), ("Bo", "Chen"), ("Li", "Wei"), ("li", "wei")]


@pytest.fixture
async def client(settings):
    """Staff features, the background refresh off."""
    async with app_client(create_app(settings.model_copy(update={"name_groups_worker": False})), headers=STAFF) as c:
        yield c


async def refreshed(db: asyncpg.Connection, companies: int = 3) -> int:
    """Run the refresh until no company is marked (in batches of `companies`); how many it recomputed."""
    total = 0
    while n := await refresh_name_groups(db, companies):
        total += n
    assert await db.fetchval("SELECT count(*) FROM name_group_marks") == 0
    return total


async def listed(client, db: asyncpg.Connection | None = None) -> list[tuple[str, list[str]]]:
    """Every name group of the list (company, member ids), two a page; refreshed first when `db` is given."""
    if db is not None:
        await refreshed(db)
    out, cursor = [], None
    while True:
        params = {"reason": "name", "limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get(f"{URL}/duplicates", params=params)
        assert r.status_code == 200, r.text
        out += [(g["company_id"], sorted(m["id"] for m in g["customers"])) for g in r.json()["items"]]
        if not (cursor := r.json()["next_cursor"]):
            return out


async def compared(db: asyncpg.Connection) -> list[tuple[str, list[str]]]:
    """The groups of comparing the members of every company with two or more live members, as the list
    did before the groups were kept."""
    companies = [
        r[0]
        for r in await db.fetch(
            "SELECT company_id FROM customers WHERE company_id IS NOT NULL AND merged_into IS NULL"
            " GROUP BY company_id HAVING count(*) > 1 ORDER BY company_id"
        )
    ]
    return [
        (str(company), sorted(str(i) for i in ids))
        for company, members in await company_members(db, companies, MEMBERS_BOUND)
        for ids in name_clusters(members)
    ]


async def _create(client, **body) -> str:
    r = await client.post(URL, json=body, headers=idem())
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _patch(client, cid: str, body: dict) -> None:
    etag = (await client.get(f"{URL}/{cid}")).headers["etag"]
    r = await client.patch(f"{URL}/{cid}", json=body, headers={**idem(), "If-Match": etag})
    assert r.status_code == 200, r.text


async def test_kept_groups_equal_comparing_every_company(client, db):
    rng = random.Random(1319)
    companies = [await _create(client, kind="company", company_name=f"Co {i}") for i in range(4)]
    members: list[str] = []
    for round_ in range(6):
        for _ in range(rng.randint(3, 6)):
            first, last = rng.choice(NAMES)
            body = {"first_name": first, "last_name": last, "company_id": rng.choice(companies)}
            members.append(await _create(client, **body))
        live = [str(r[0]) for r in await db.fetch("SELECT id FROM customers WHERE merged_into IS NULL")]
        movable = sorted(set(members) & set(live))
        first, last = rng.choice(NAMES)
        await _patch(client, rng.choice(movable), {"first_name": first, "last_name": last})  # rename
        await _patch(client, rng.choice(movable), {"company_id": rng.choice(companies)})  # move
        a, b = rng.sample(movable, 2)
        merged = await client.post(f"{URL}/{a}/merge", json={"merged_id": b}, headers=idem())
        assert merged.status_code == 200, merged.text
        if round_ == 2:  # many rows per statement, by SQL: renames, a move, an insert and a delete
            first_co, second_co = uuid.UUID(companies[0]), uuid.UUID(companies[1])
            await db.execute("UPDATE customers SET display_name = upper(display_name) WHERE company_id = $1", first_co)
            await db.execute(
                "INSERT INTO customers (kind, display_name, company_id)"
                " SELECT 'individual', n, $2 FROM unnest($1::text[]) n",
                ["Bo Chen", "bo  chen", "Zed Zed", "Zed Zed"],
                second_co,
            )
            await db.execute("DELETE FROM customers WHERE company_id = $1 AND display_name = 'bo  chen'", second_co)
        if round_ == 4:  # a company merged into another: its members join the survivor
            r = await client.post(f"{URL}/{companies[0]}/merge", json={"merged_id": companies[3]}, headers=idem())
            assert r.status_code == 200, r.text
            companies.pop()
        assert await listed(client, db) == await compared(db)
    groups = await listed(client, db)
    assert groups  # some groups were found
    # Renames alone, through the API and by SQL: a group loses a member, another company gains a group.
    await _patch(client, groups[0][1][0], {"first_name": "Zed", "last_name": "Quux"})
    assert await listed(client, db) == await compared(db) != groups
    await db.execute(
        "UPDATE customers SET display_name = 'Zed Quux' WHERE id = (SELECT min(id::text)::uuid FROM customers"
        " WHERE company_id = $1 AND merged_into IS NULL AND display_name <> 'Zed Quux')",
        uuid.UUID(groups[-1][0]),
    )
    assert await listed(client, db) == await compared(db)


async def test_a_refresh_recomputes_only_the_changed_companies(client, db):
    acme, other = [await _create(client, kind="company", company_name=n) for n in ("Acme", "Other")]
    for first, last in NAMES[:3]:
        await _create(client, first_name=first, last_name=last, company_id=acme)
        await _create(client, first_name=first, last_name=last, company_id=other)
    assert len(await listed(client, db)) == 2
    assert await refresh_name_groups(db) == 0  # nothing changed since the last refresh
    await db.execute("UPDATE customers SET display_name = 'Jon Smyth' WHERE company_id = $1", uuid.UUID(acme))
    await db.execute("UPDATE customers SET version = version + 1")  # no name, company or merge change
    assert await refresh_name_groups(db) == 1
    assert await listed(client, db) == await compared(db)
