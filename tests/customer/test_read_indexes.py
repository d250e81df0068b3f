"""The read indexes of issue 13 (migration 0005) change how lists are answered, never what they answer:
every page walk returns the same items in the same order as a plain sort of the base tables (computed with
index scans switched off), and the plans of the list shapes can use the new indexes."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from crm_customer.main import create_app
from crm_shared.testing import app_client, partner_headers, user_headers

PARTNERS = ("shop-big", "shop-mid", "shop-small")
SCOPES = ("customers:read", "orders:read", "pii:read")
STAFF = user_headers("u1", *SCOPES)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def base(db: asyncpg.Connection) -> dict[str, Any]:
    """300 customers spread over three partners (unevenly), each with 0-6 orders; order times fall on a
    coarse grid so that many orders tie on ordered_at and the id decides (the keyset's second column)."""
    rng = random.Random(13)
    customers, refs, orders = [], [], []
    for i in range(300):
        cid = uuid.uuid4()
        partner = rng.choices(PARTNERS, weights=(70, 25, 5))[0]
        name = f"{rng.choice(['Ana', 'Bea', 'Carl'])} {rng.choice(['Ruiz', 'Moreno', 'Ruizberg', 'Stein'])}"
        created = T0 + timedelta(hours=rng.randrange(50))  # ties on created_at too
        customers.append((cid, "individual", name, created))
        refs.append((partner, f"C-{i}", cid))
        for j in range(rng.randrange(7)):
            status = rng.choices(("created", "cancelled", "refunded"), weights=(90, 7, 3))[0]
            at = T0 + timedelta(days=rng.randrange(20))
            orders.append((uuid.uuid4(), partner, f"O-{i}-{j}", cid, at, "EUR", 10, status))
    await db.copy_records_to_table("customers", records=customers, columns=["id", "kind", "display_name", "created_at"])
    await db.copy_records_to_table("customer_refs", records=refs, columns=["partner", "external_id", "customer_id"])
    await db.copy_records_to_table(
        "orders",
        records=orders,
        columns=["id", "partner", "external_id", "customer_id", "ordered_at", "currency", "amount", "status"],
    )
    await db.execute("ANALYZE")
    return {"refs": refs}


async def _reference(db: asyncpg.Connection, sql: str, *args: Any) -> list[str]:
    """The ids a plain sort of the base table gives (no index can shape the answer)."""
    async with db.transaction():
        await db.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off")
        await db.execute("SET LOCAL enable_bitmapscan = off")
        return [str(r[0]) for r in await db.fetch(sql, *args)]


async def _walk(client: httpx.AsyncClient, path: str, params: dict[str, str]) -> list[str]:
    """Every item id of a list, page by page (small pages: many cursors)."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        r = await client.get(path, params={**params, "limit": "7", **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        ids += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids


ORDERS_SQL = "SELECT id FROM orders WHERE {where} ORDER BY ordered_at {d}, id {d}"


@pytest.mark.parametrize("partner", PARTNERS)
@pytest.mark.parametrize("sort", ["-ordered_at", "ordered_at"])
async def test_a_partners_orders_are_its_own_in_order(settings, db, base, partner, sort):
    async with app_client(create_app(settings), headers=partner_headers(partner, *SCOPES)) as client:
        got = await _walk(client, "/api/v1/orders", {"sort": sort})
    d = "DESC" if sort.startswith("-") else "ASC"
    assert got == await _reference(db, ORDERS_SQL.format(where="partner = $1", d=d), partner)
    assert got  # every partner has orders


@pytest.mark.parametrize(
    ("params", "where", "args"),
    [
        ({"status": "cancelled"}, "status = $1", ("cancelled",)),
        ({"status": "refunded"}, "status = $1", ("refunded",)),
        ({"partner": "shop-small"}, "partner = $1", ("shop-small",)),
        ({"partner": "shop-mid", "status": "created"}, "partner = $1 AND status = $2", ("shop-mid", "created")),
    ],
)
async def test_staff_order_filters_answer_as_a_plain_sort(settings, db, base, params, where, args):
    async with app_client(create_app(settings), headers=STAFF) as client:
        got = await _walk(client, "/api/v1/orders", params)
    assert got == await _reference(db, ORDERS_SQL.format(where=where, d="DESC"), *args)


CUSTOMERS_SQL = (
    "SELECT c.id FROM customers c WHERE EXISTS (SELECT FROM customer_refs r WHERE r.customer_id = c.id"
    " AND r.partner = $1) ORDER BY {order}"
)


@pytest.mark.parametrize("partner", PARTNERS)
@pytest.mark.parametrize(
    ("sort", "order"),
    [("-created_at", "c.created_at DESC, c.id DESC"), ("display_name", "c.display_name, c.id")],
)
async def test_a_partners_customers_in_order(settings, db, base, partner, sort, order):
    async with app_client(create_app(settings), headers=partner_headers(partner, *SCOPES)) as client:
        mine = await _walk(client, "/api/v1/customers", {"sort": sort})
    async with app_client(create_app(settings), headers=STAFF) as client:
        filtered = await _walk(client, "/api/v1/customers", {"sort": sort, "partner": partner})
    expected = await _reference(db, CUSTOMERS_SQL.format(order=order), partner)
    assert mine == expected
    assert filtered == expected


async def test_external_id_alone_finds_every_partners_customer(settings, db, base):
    ref = base["refs"][17]
    async with app_client(create_app(settings), headers=STAFF) as client:
        r = await client.get("/api/v1/customers", params={"external_id": ref[1]})
    assert r.status_code == 200
    assert [c["id"] for c in r.json()["items"]] == [str(ref[2])]


async def test_name_search_pages_as_a_plain_sort(settings, db, base):
    async with app_client(create_app(settings), headers=STAFF) as client:
        got = await _walk(client, "/api/v1/customers", {"q": "ruiz", "sort": "display_name"})
    expected = await _reference(
        db, "SELECT id FROM customers WHERE display_name ILIKE '%ruiz%' ORDER BY display_name, id"
    )
    assert got == expected
    assert len(got) > 20


# The list shapes (row comparison after the cursor, as crm_shared.pagination emits) and the index each one is
# meant to use: with sequential scans, bitmap scans and sorts off, the planner must answer from that index.
MAX_ID = "'ffffffff-ffff-4fff-bfff-ffffffffffff'::uuid"
PLANS = [
    (
        f"SELECT id FROM orders WHERE partner = 'shop-small' AND (ordered_at, id) < ('2026-01-10', {MAX_ID})"
        " ORDER BY ordered_at DESC, id DESC LIMIT 51",
        "ix_orders_partner_ordered_at_id",
    ),
    (
        f"SELECT id FROM orders WHERE status = 'cancelled' AND (ordered_at, id) < ('2026-01-10', {MAX_ID})"
        " ORDER BY ordered_at DESC, id DESC LIMIT 51",
        "ix_orders_status_ordered_at_id",
    ),
    ("SELECT customer_id FROM customer_refs WHERE external_id = 'C-5'", "ix_customer_refs_external_id"),
    ("SELECT customer_id FROM customer_refs WHERE partner = 'shop-small'", "ix_customer_refs_partner_customer_id"),
]


@pytest.mark.parametrize(("sql", "index"), PLANS, ids=[p[1] for p in PLANS])
async def test_the_list_shapes_can_use_their_index(db, base, sql, index):
    async with db.transaction():
        await db.execute(
            "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"
        )
        plan = "\n".join(r[0] for r in await db.fetch(f"EXPLAIN {sql}"))
    assert index in plan, plan
