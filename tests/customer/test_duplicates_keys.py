"""Duplicate keys (crm_customer/hygiene/models.py DuplicateKey): after random creates, updates, merges, direct
and many-row writes, and concurrent writers, the kept counts equal a fresh grouping of customers, and the
duplicates list answers exactly what grouping every customer answered before the counts were kept."""

import asyncio
import random

import asyncpg

from crm_shared.embedded_pg import asyncpg_dsn

from .helpers import idem

URL = "/api/v1/customers"
FRESH = """
    SELECT reason, key, count(*) AS n FROM (
        SELECT 'email' AS reason, email::text AS key FROM customers WHERE merged_into IS NULL AND email IS NOT NULL
        UNION ALL
        SELECT 'phone', phone::text FROM customers WHERE merged_into IS NULL AND phone IS NOT NULL
    ) AS k GROUP BY reason, key
"""
# The list's groups as the service grouped every customer before the counts were kept.
SCAN = """
    SELECT {col} AS key, array_agg(id::text ORDER BY created_at, id) AS ids FROM customers
    WHERE merged_into IS NULL AND {col} IS NOT NULL GROUP BY {col} HAVING count(*) > 1 ORDER BY {col}
"""
EMAILS = [f"p{i}@example.com" for i in range(6)]
PHONES = [f"+3460011220{i}" for i in range(5)]


async def assert_keys_current(db: asyncpg.Connection) -> None:
    kept = {(r["reason"], r["key"]): r["n"] for r in await db.fetch("SELECT * FROM duplicate_keys") if r["n"]}
    assert kept == {(r["reason"], r["key"]): r["n"] for r in await db.fetch(FRESH)}
    assert await db.fetchval("SELECT count(*) FROM duplicate_key_changes") == 0  # every change folded at commit


async def listed(client) -> list[tuple[str, str, list[str]]]:
    """Every email and phone group of the list, page by page."""
    out, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        r = await client.get(f"{URL}/duplicates", params=params)
        assert r.status_code == 200, r.text
        out += [(g["reason"], g["key"], [m["id"] for m in g["customers"]]) for g in r.json()["items"]]
        if not (cursor := r.json()["next_cursor"]):
            return [g for g in out if g[0] != "name"]


async def scanned(db: asyncpg.Connection) -> list[tuple[str, str, list[str]]]:
    return [(col, r["key"], list(r["ids"])) for col in ("email", "phone") for r in await db.fetch(SCAN.format(col=col))]


async def test_random_writes_keep_the_counts_and_the_list_equal_to_a_scan(api, db):
    rng = random.Random(13)
    ids: list[str] = []
    for round_ in range(6):
        for _ in range(rng.randint(3, 6)):
            body = {"first_name": "Ana", "email": rng.choice([*EMAILS, None]), "phone": rng.choice([*PHONES, None])}
            r = await api.post(URL, json={k: v for k, v in body.items() if v}, headers=idem())
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        live = {str(r[0]) for r in await db.fetch("SELECT id FROM customers WHERE merged_into IS NULL")}
        a, b = rng.sample(sorted(live & set(ids)), 2)
        change = rng.choice([{"email": rng.choice(EMAILS)}, {"phone": None}, {"email": None, "phone": PHONES[0]}])
        etag = (await api.get(f"{URL}/{a}")).headers["etag"]
        patched = await api.patch(f"{URL}/{a}", json=change, headers={**idem(), "If-Match": etag})
        assert patched.status_code == 200, patched.text
        merged = await api.post(f"{URL}/{a}/merge", json={"merged_id": b}, headers=idem())
        assert merged.status_code == 200, merged.text
        if round_ == 3:  # many rows in one statement each way, by SQL
            await db.execute(
                "INSERT INTO customers (id, kind, display_name, email, phone) "
                "SELECT gen_random_uuid(), 'individual', 'Bulk', e, NULL FROM unnest($1::text[]) e",
                EMAILS * 2,
            )
            await db.execute("UPDATE customers SET email = upper(email) WHERE display_name = 'Bulk' AND random() < 0.5")
        await assert_keys_current(db)
        assert await listed(api) == await scanned(db)
    assert await listed(api)  # some groups were found


async def test_a_deleted_customer_leaves_its_keys(api, db):
    for _ in range(3):
        await api.post(URL, json={"first_name": "Bo", "email": EMAILS[0], "phone": PHONES[0]}, headers=idem())
    await db.execute("DELETE FROM customers WHERE id = (SELECT min(id::text)::uuid FROM customers)")
    await assert_keys_current(db)
    assert await db.fetchval("SELECT n FROM duplicate_keys WHERE reason = 'email' AND key = $1", EMAILS[0]) == 2


async def test_a_rolled_back_savepoint_counts_nothing(db):
    insert = "INSERT INTO customers (id, kind, display_name, email) VALUES (gen_random_uuid(), 'individual', 'S', $1)"
    async with db.transaction():
        await db.execute(insert, EMAILS[1])
        try:
            async with db.transaction():  # a savepoint: its changes and its fold marker go with it
                await db.execute(insert, EMAILS[1])
                await db.execute(insert, EMAILS[2])
                raise RuntimeError
        except RuntimeError:
            pass
        await db.execute(insert, EMAILS[2])
    await assert_keys_current(db)
    assert await db.fetchval("SELECT n FROM duplicate_keys WHERE key = $1", EMAILS[1]) == 1


async def test_concurrent_writers_of_the_same_keys_lose_no_count(db, db_url):
    async def writer(seed: int) -> None:
        rng = random.Random(seed)
        conn = await asyncpg.connect(asyncpg_dsn(db_url))
        try:
            for _ in range(25):
                async with conn.transaction():
                    await conn.execute(
                        "INSERT INTO customers (id, kind, display_name, email, phone) "
                        "SELECT gen_random_uuid(), 'individual', 'W', e, $2 FROM unnest($1::text[]) e",
                        rng.sample(EMAILS, 3),
                        rng.choice(PHONES),
                    )
                    await conn.execute(
                        "UPDATE customers SET merged_into = id WHERE id = (SELECT id FROM customers"
                        " WHERE merged_into IS NULL ORDER BY random() LIMIT 1)"
                    )
        finally:
            await conn.close()

    await asyncio.gather(*(writer(s) for s in range(4)))
    await assert_keys_current(db)  # and no writer deadlocked
