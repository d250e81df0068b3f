"""Name search (`q=`) through the name grams' GIN index (customer migration 0008): over random names in mixed case
with accents, other scripts, punctuation and LIKE wildcards, after creates, renames, merges and deletes, `q=`
answers exactly the names that contain q in any case (the plain predicate, lower(name) containing lower(q)),
whether PostgreSQL reads the index or every row."""

import random

import asyncpg

from .helpers import idem

URL = "/api/v1/customers"
ALPHABET = "aAbBeEnNoOsSzZ" + "éÉñÑöÖüÜßçÇåÅ" + "σΣςжЖ" + " .-'&%_\\" + "0"
PLAIN = "SELECT id::text FROM customers WHERE strpos(lower(display_name), lower($1)) > 0"
# The repository's predicate (customers/repository.py name_contains), read through the index only.
INDEXED = (
    "SELECT id::text FROM customers WHERE customer_name_grams(display_name) @> customer_query_grams($1)"
    " AND display_name ILIKE '%' || replace(replace(replace($1, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'"
)
OTHER_INDEXES = (
    "SELECT indexname FROM pg_indexes WHERE tablename = 'customers' AND indexname <> 'ix_customers_name_grams'"
)


def word(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 7))).strip() or "x"


def queries(rng: random.Random, names: list[str], n: int) -> list[str]:
    """Pieces of current names, case flipped at random, and random strings (most match nothing)."""
    out = []
    for _ in range(n):
        if names and rng.random() < 0.7:
            name = rng.choice(names)
            size = rng.randint(2, 5)
            start = rng.randint(0, max(0, len(name) - size))
            piece = name[start : start + size]
            piece = "".join(c.swapcase() if rng.random() < 0.3 else c for c in piece)
        else:
            piece = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(2, 4)))
        if len(piece) >= 2:
            out.append(piece)
    return out


async def searched(api, q: str, limit: int, sort: str) -> set[str]:
    """Every customer `q=` lists (merged ones too), page by page, each page in the list's order."""
    found: list[str] = []
    cursor = None
    while True:
        params = {
            "q": q,
            "include_merged": "true",
            "limit": limit,
            "sort": sort,
            **({"cursor": cursor} if cursor else {}),
        }
        r = await api.get(URL, params=params)
        assert r.status_code == 200, (q, r.text)
        items = r.json()["items"]
        keys = [(c[sort.lstrip("+-")], c["id"]) for c in items]
        assert keys == sorted(keys, reverse=sort.startswith("-")), q
        found += [c["id"] for c in items]
        if not (cursor := r.json()["next_cursor"]):
            assert len(found) == len(set(found)), q  # no customer twice across pages
            return set(found)


async def assert_search_exact(api, db: asyncpg.Connection, rng: random.Random, n: int) -> int:
    """`q=` (the planner's choice) and the grams' index alone both equal the plain predicate; returns how
    many queries matched something."""
    names = [r[0] for r in await db.fetch("SELECT display_name FROM customers")]
    expected = {q: {r[0] for r in await db.fetch(PLAIN, q)} for q in queries(rng, names, n)}
    for q, ids in expected.items():
        # Small pages fill from the walk along the order, large ones (or rare q) turn to the grams' index.
        limit, sort = rng.choice([2, 7, 100]), rng.choice(["-created_at", "+display_name"])
        assert await searched(api, q, limit, sort) == ids, q
    only_grams = db.transaction()  # rolled back: every other way to read customers dropped for a while
    await only_grams.start()
    try:
        await db.execute("ALTER TABLE customers DROP CONSTRAINT pk_customers CASCADE")
        for (index,) in await db.fetch(OTHER_INDEXES):
            await db.execute(f"DROP INDEX {index}")
        await db.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in await db.fetch(f"EXPLAIN {INDEXED}", "ab"))
        assert "Bitmap Index Scan on ix_customers_name_grams" in plan, plan
        for q, ids in expected.items():
            assert {r[0] for r in await db.fetch(INDEXED, q)} == ids, q
    finally:
        await only_grams.rollback()
    return sum(bool(ids) for ids in expected.values())


async def test_search_equals_the_plain_predicate_through_writes(api, db):
    rng = random.Random(20261219)
    ids = []
    for _ in range(12):
        body = {"first_name": word(rng), "last_name": word(rng)}
        r = await api.post(URL, json=body, headers=idem())
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    await db.execute(
        "INSERT INTO customers (kind, display_name) SELECT 'individual', n FROM unnest($1::text[]) n",
        [f"{word(rng)} {word(rng)}" for _ in range(300)],
    )
    matched = await assert_search_exact(api, db, rng, 80)

    for a, b in zip(ids[0:6:2], ids[1:6:2], strict=True):  # renames through the API, then merges
        etag = (await api.get(f"{URL}/{a}")).headers["etag"]
        renamed = await api.patch(f"{URL}/{a}", json={"last_name": word(rng)}, headers={**idem(), "If-Match": etag})
        assert renamed.status_code == 200, renamed.text
        merged = await api.post(f"{URL}/{a}/merge", json={"merged_id": b}, headers=idem())
        assert merged.status_code == 200, merged.text
    loose = sorted(str(r[0]) for r in await db.fetch("SELECT id FROM customers WHERE merged_into IS NULL"))
    loose = [i for i in loose if i not in ids]  # rows nothing refers to
    await db.execute(  # many renames in one statement, and deletes
        "UPDATE customers SET display_name = upper(display_name) || ' ' || $2 WHERE id = ANY($1::uuid[])",
        rng.sample(loose, 90),
        word(rng),
    )
    await db.execute("DELETE FROM customers WHERE id = ANY($1::uuid[])", rng.sample(loose, 60))
    matched += await assert_search_exact(api, db, rng, 80)
    assert matched > 60  # the queries were not mostly empty


async def test_short_and_odd_queries(api, db):
    await db.execute(
        "INSERT INTO customers (kind, display_name) SELECT 'individual', n FROM unnest($1::text[]) n",
        ["Ana Ruiz", "ANNA", "Jo", "Zoë Ångström", "100% Tea_Co", "back\\slash", "ΣΟΦΙΑ"],
    )
    cases = {
        "an": {"Ana Ruiz", "ANNA"},  # two characters: one bigram
        "AN": {"Ana Ruiz", "ANNA"},
        "jo": {"Jo"},
        "ZOË": {"Zoë Ångström"},
        "zoe": set(),  # accents are significant, as in ILIKE
        "ångs": {"Zoë Ångström"},
        "% t": {"100% Tea_Co"},
        "a_c": {"100% Tea_Co"},  # wildcards are literal
        "%_": set(),
        "k\\s": {"back\\slash"},
        "σοφ": {"ΣΟΦΙΑ"},
        "a r": {"Ana Ruiz"},
    }
    for q, expected in cases.items():
        r = await api.get(URL, params={"q": q, "limit": 100})
        assert r.status_code == 200, r.text
        assert {c["display_name"] for c in r.json()["items"]} == expected, q
