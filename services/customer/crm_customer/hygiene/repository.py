"""Every query of contact hygiene: duplicate candidates and the set-based merge.
All statements run on the session's own asyncpg connection, inside the request's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

import asyncpg

# --- duplicates ---------------------------------------------------------------------------------

# The keys two or more live customers share, from the kept counts' partial index (hygiene/models.py
# DuplicateKey); each key's customers from the column's own index.
_KEY_GROUPS = """
    SELECT d.key,
           (SELECT array_agg(c.id ORDER BY c.created_at, c.id) FROM customers c
            WHERE c.{col} = d.key AND c.merged_into IS NULL) AS ids
    FROM duplicate_keys d
    WHERE d.reason = '{col}' AND d.n > 1 AND d.key > coalesce($1::text, '')  -- keys are never empty
    ORDER BY d.key LIMIT $2
"""


async def same_value_groups(
    conn: asyncpg.Connection, column: Literal["email", "phone"], after: str | None, limit: int
) -> list[tuple[str, list[uuid.UUID]]]:
    """Live customers sharing a normalized email or phone (both are stored normalized), by value."""
    rows = await conn.fetch(_KEY_GROUPS.format(col=column), after, limit)
    return [(r["key"], list(r["ids"])) for r in rows]


async def company_members(
    conn: asyncpg.Connection, companies: Sequence[uuid.UUID], members_bound: int
) -> list[tuple[uuid.UUID, list[tuple[uuid.UUID, str]]]]:
    """Each company's live members, up to `members_bound` of them (id, lower-cased display name), ordered by
    name so equal names sit together; from the company_id index. Ids come as a uuid[] (decoded by asyncpg in C:
    as text, parsing them was a quarter of the name groups' catch-up in Python)."""
    rows = await conn.fetch(
        """
        SELECT c.company_id, m.ids, m.names
        FROM unnest($1::uuid[]) AS c(company_id)
        CROSS JOIN LATERAL (
            SELECT array_agg(id ORDER BY name, id) AS ids, array_agg(name ORDER BY name, id) AS names
            FROM (SELECT id, lower(btrim(display_name)) AS name FROM customers
                  WHERE company_id = c.company_id AND merged_into IS NULL
                  ORDER BY lower(btrim(display_name)), id LIMIT $2) AS s
        ) AS m
        """,
        list(companies),
        members_bound,
    )
    return [(r["company_id"], list(zip(r["ids"] or (), r["names"] or (), strict=True))) for r in rows]


# The second key of the name groups' advisory locks names the company; the first keeps them apart from any other
# two-key advisory lock in the database ("nmgr").
_NAME_GROUPS_LOCK = 0x6E6D6772


async def claim_name_group_marks(conn: asyncpg.Connection, companies: int) -> list[uuid.UUID]:
    """Take up to `companies` marked companies for this transaction, by id, and delete their marks. Two workers
    never take the same company: the marks are picked FOR UPDATE SKIP LOCKED (another worker's rows are passed
    over, never waited for), and each company is kept by an advisory lock until the transaction ends, which
    passes over a company another worker is recomputing even when a mark for it arrived since. Only marks
    committed before this statement are deleted: the changes they stand for are all visible to the next one.

    The marks to delete are gathered into arrays (each ARRAY(...) runs once) rather than joined: the worker runs
    this statement every poll with nothing marked, so its connections keep a generic plan made for an empty
    table, and a join of the marks with the marked rows planned that way was a nested loop rescanning the
    table per row: with 20,000 companies marked at once, the first pass had run 14 minutes when stopped."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT company_id FROM (
            SELECT company_id FROM name_group_marks ORDER BY company_id LIMIT $1 FOR UPDATE SKIP LOCKED
        ) AS picked
        """,
        companies,
    )
    rows = await conn.fetch(
        """
        WITH mine AS MATERIALIZED (
            SELECT c AS company_id FROM unnest($1::uuid[]) AS c WHERE pg_try_advisory_xact_lock($2, hashtext(c::text))
        ), taken AS (
            DELETE FROM name_group_marks WHERE ctid = ANY(ARRAY(
                SELECT ctid FROM name_group_marks WHERE company_id = ANY(ARRAY(SELECT company_id FROM mine))
                FOR UPDATE SKIP LOCKED
            ))
        )
        SELECT company_id FROM mine ORDER BY company_id
        """,
        [r["company_id"] for r in rows],
        _NAME_GROUPS_LOCK,
    )
    return [r["company_id"] for r in rows]


# Companies marked and not yet recomputed (or being recomputed now): the listing's `pending_companies` and a gauge.
PENDING_COMPANIES = "SELECT count(DISTINCT company_id) AS value FROM name_group_marks"


async def pending_name_group_companies(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval(PENDING_COMPANIES))


async def replace_name_groups(
    conn: asyncpg.Connection, companies: Sequence[uuid.UUID], groups: Sequence[tuple[uuid.UUID, list[uuid.UUID]]]
) -> None:
    """The companies' groups (company, member ids sorted) replace what was kept for them."""
    await conn.execute("DELETE FROM name_groups WHERE company_id = ANY($1::uuid[])", list(companies))
    await conn.executemany(
        "INSERT INTO name_groups (company_id, first_id, ids) VALUES ($1, $2, $3)",
        [(company, ids[0], ids) for company, ids in groups],
    )


async def name_groups_after(
    conn: asyncpg.Connection, after: tuple[uuid.UUID, uuid.UUID] | None, limit: int
) -> list[tuple[uuid.UUID, list[uuid.UUID]]]:
    """Kept name groups after (company, first member id), in that order, from the primary key."""
    if after is None:
        sql = "SELECT company_id, ids FROM name_groups ORDER BY company_id, first_id LIMIT $1"
        rows = await conn.fetch(sql, limit)
    else:  # a row comparison: the index starts there (an OR of the two cases would read from the start)
        sql = (
            "SELECT company_id, ids FROM name_groups WHERE (company_id, first_id) > ($1, $2)"
            " ORDER BY company_id, first_id LIMIT $3"
        )
        rows = await conn.fetch(sql, *after, limit)
    return [(r["company_id"], list(r["ids"])) for r in rows]


async def customer_summaries(conn: asyncpg.Connection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT id, kind, display_name, email, phone, company_id, created_at
        FROM customers WHERE id = ANY($1::uuid[])
        """,
        list(ids),
    )
    return {r["id"]: dict(r) for r in rows}


# --- merge ----------------------------------------------------------------------------------------

_CUSTOMER_COLUMNS = """
    id, kind, first_name, last_name, company_name, email, phone,
    NULLIF(address, 'null')::text AS address,  -- an absent address may be stored as JSON null
    company_id, payment_terms, brand_contribution, declared_budget, share_of_wallet, preferred_channel,
    max_contacts_per_month, time_zone, merged_into, version
"""


async def lock_pair(conn: asyncpg.Connection, a: uuid.UUID, b: uuid.UUID) -> dict[uuid.UUID, asyncpg.Record]:
    """Lock both customer rows FOR UPDATE in id order (ORDER BY locks rows as they come out of the
    sort), so two merges of the same pair, in either direction, queue instead of deadlocking."""
    rows = await conn.fetch(
        f"SELECT {_CUSTOMER_COLUMNS} FROM customers WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE",
        sorted({a, b}),
    )
    return {r["id"]: r for r in rows}


# Child rows that simply change owner: table -> extra assignments.
_MOVES = {
    "orders": ", updated_at = now()",
    "contacts": ", updated_at = now(), version = version + 1",
    "complaints": ", updated_at = now(), version = version + 1",
    "interactions": "",
    "profile_answers": "",
    "consent_records": "",
    "customer_refs": "",
}


async def move_children(conn: asyncpg.Connection, survivor: uuid.UUID, merged: uuid.UUID) -> dict[str, int]:
    moved: dict[str, int] = {}
    for table, extra in _MOVES.items():
        status = await conn.execute(
            f"UPDATE {table} SET customer_id = $1{extra} WHERE customer_id = $2", survivor, merged
        )
        moved[table] = _count(status)
    return moved


async def move_referrals(conn: asyncpg.Connection, survivor: uuid.UUID, merged: uuid.UUID) -> tuple[int, int]:
    """Referrals between the two would become self-referrals: dropped. The merged customer's
    referrals as referrer move; its own referral (as referred) moves only when the survivor has none
    (a customer is referred at most once), else it is dropped. Returns (moved, dropped)."""
    dropped = _count(
        await conn.execute(
            """
            DELETE FROM referrals
            WHERE (referrer_id = $2 AND referred_id = $1) OR (referrer_id = $1 AND referred_id = $2)
            """,
            survivor,
            merged,
        )
    )
    moved = _count(await conn.execute("UPDATE referrals SET referrer_id = $1 WHERE referrer_id = $2", survivor, merged))
    moved += _count(
        await conn.execute(
            """
            UPDATE referrals SET referred_id = $1
            WHERE referred_id = $2 AND NOT EXISTS (SELECT 1 FROM referrals WHERE referred_id = $1)
            """,
            survivor,
            merged,
        )
    )
    dropped += _count(await conn.execute("DELETE FROM referrals WHERE referred_id = $1", merged))
    return moved, dropped


async def union_tags(conn: asyncpg.Connection, survivor: uuid.UUID, merged: uuid.UUID) -> int:
    """The survivor keeps its own tags and gains the merged customer's; returns how many it gained."""
    added = _count(
        await conn.execute(
            """
            INSERT INTO customer_tags (customer_id, tag_key, source, added_by, added_at)
            SELECT $1, tag_key, source, added_by, added_at FROM customer_tags WHERE customer_id = $2
            ON CONFLICT (customer_id, tag_key) DO NOTHING
            """,
            survivor,
            merged,
        )
    )
    await conn.execute("DELETE FROM customer_tags WHERE customer_id = $1", merged)
    return added


async def current_consents(conn: asyncpg.Connection, customer_id: uuid.UUID) -> dict[str, str]:
    rows = await conn.fetch("SELECT channel, status FROM consents WHERE customer_id = $1", customer_id)
    return {r["channel"]: r["status"] for r in rows}


async def merge_consents(conn: asyncpg.Connection, survivor: uuid.UUID, merged: uuid.UUID) -> list[asyncpg.Record]:
    """Per channel, the stricter current consent of the two wins: an opt-out of either customer is
    kept, whenever it was given (a later opt-in of the other record is not the person taking it
    back); between equal states the more recent one stays. Returns the survivor's rows that were
    written (channel, status, source, updated_at). The history of both is kept: `consent_records`
    moves with the other children."""
    rows = await conn.fetch(
        """
        INSERT INTO consents (customer_id, channel, status, source, updated_at)
        SELECT $1, channel, status, source, updated_at FROM consents WHERE customer_id = $2
        ON CONFLICT (customer_id, channel) DO UPDATE
            SET status = EXCLUDED.status, source = EXCLUDED.source, updated_at = EXCLUDED.updated_at
            WHERE (EXCLUDED.status = 'opted_out' AND consents.status <> 'opted_out')
               OR (EXCLUDED.status = consents.status AND consents.updated_at < EXCLUDED.updated_at)
        RETURNING channel, status, source, updated_at
        """,
        survivor,
        merged,
    )
    await conn.execute("DELETE FROM consents WHERE customer_id = $1", merged)
    return rows


async def repoint_customers(conn: asyncpg.Connection, survivor: uuid.UUID, merged: uuid.UUID) -> tuple[int, int]:
    """Members of the merged company join the survivor; customers folded into the merged one earlier
    now resolve straight to the survivor (chains stay one hop). Returns (members, earlier merges)."""
    members = _count(
        await conn.execute(
            """
            UPDATE customers SET company_id = CASE WHEN id = $1 THEN NULL ELSE $1 END,
                                 version = version + 1, updated_at = now()
            WHERE company_id = $2
            """,
            survivor,
            merged,
        )
    )
    chained = _count(
        await conn.execute("UPDATE customers SET merged_into = $1 WHERE merged_into = $2", survivor, merged)
    )
    return members, chained


async def fill_survivor(conn: asyncpg.Connection, survivor: uuid.UUID, values: dict[str, Any]) -> None:
    """Set the given (previously empty) fields and bump the survivor's version, even with no field."""
    names = list(values)
    assignments = "".join(f", {n} = ${i + 2}" for i, n in enumerate(names))
    await conn.execute(
        f"UPDATE customers SET version = version + 1, updated_at = now(){assignments} WHERE id = $1",
        survivor,
        *(values[n] for n in names),
    )


async def mark_merged(
    conn: asyncpg.Connection, survivor: uuid.UUID, merged: uuid.UUID, merged_by: str | None
) -> asyncpg.Record:
    await conn.execute(
        """
        UPDATE customers SET merged_into = $1, merged_at = now(), version = version + 1, updated_at = now()
        WHERE id = $2
        """,
        survivor,
        merged,
    )
    row = await conn.fetchrow(
        "INSERT INTO customer_merges (merged_id, survivor_id, merged_by) VALUES ($1, $2, $3) RETURNING merged_at",
        merged,
        survivor,
        merged_by,
    )
    assert row is not None  # INSERT ... RETURNING: one row
    return row


def _count(status: str) -> int:
    """Rows touched, from a command tag such as 'UPDATE 3' or 'INSERT 0 2'."""
    return int(status.rsplit(" ", 1)[-1])
