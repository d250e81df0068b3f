"""The read benchmark's base: bench/scoring's synthetic customers and orders (MBG/NBD purchase times,
Gamma-Gamma spend), loaded with binary COPY into both a customer database (customers, partner references,
orders) and a scoring database (purchases, known customers) that describe the same customers and orders.

Everything is drawn on flat arrays and encoded by bench/scoring/synth.py's binary COPY encoder; only the
customer service's tables are encoded here. Each table is loaded without its indexes and foreign-key
checks (the data is consistent by construction), the indexes are built afterwards, then VACUUM ANALYZE.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import numpy as np
from numpy.typing import NDArray
from synth import (  # bench/scoring/synth.py (the caller puts it on sys.path)
    CUSTOMER_COLUMNS,
    I64,
    PAYMENT_TERMS,
    PAYMENT_WEIGHTS,
    PURCHASE_COLUMNS,
    U8,
    Column,
    Orders,
    SynthParams,
    _copy_stream,
    be_bytes,
    draw_arrays,
    encode_customers,
    encode_purchases,
    encode_tuples,
    line_combos,
    numeric_column,
    random_uuids,
    text_column,
)

from crm_customer.orders.repository import ORDER_COLUMNS

# Partners holding the customers' references: two big shops and the benchmark's own API key, a small one
# (its lists are the "small partner" case: few of the rows an index walk meets are its own).
PARTNERS = ("shop-a", "shop-b", "bench-partner")
PARTNER_WEIGHTS = np.array([0.70, 0.28, 0.02])
PUSH_PARTNER = "shop-a"  # the orders pushed through the API: existing customers of a big shop
KINDS = ("individual", "company")
KIND_WEIGHTS = np.array([0.95, 0.05])
EMAIL_DOMAIN = b"@bench.example"
STATUSES = ("created", "cancelled", "partially_refunded")
FIRST_NAMES = tuple(
    f"{a}{b}"
    for a in ("An", "Be", "Cla", "Da", "E", "Fe", "Gre", "Ha", "I", "Jo", "Ka", "Le", "Ma", "No", "O", "Pa", "Ro", "Sa")
    for b in ("na", "ra", "lia", "nie", "tt", "ssa", "rk", "ven")
)
_SYLLABLES = ("ber", "mann", "son", "stein", "ko", "vic", "lar", "dor", "wen", "ham", "ley", "tor", "gu", "ri", "mo")


def _last_names(rng: np.random.Generator, n: int) -> tuple[str, ...]:
    picks = rng.integers(0, len(_SYLLABLES), size=(n * 2, 3))
    names = dict.fromkeys("".join(_SYLLABLES[i] for i in row).capitalize() for row in picks)
    return tuple(list(names)[:n])


def fixed_ids(prefix: bytes, values: I64, digits: int) -> U8:
    """`prefix` + each value as `digits` zero-padded decimal digits, as (n, len) bytes (no Python per row)."""
    n = len(values)
    out = np.empty((n, len(prefix) + digits), dtype=np.uint8)
    out[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    powers = 10 ** np.arange(digits - 1, -1, -1, dtype=np.int64)
    out[:, len(prefix) :] = (values[:, None] // powers % 10 + ord("0")).astype(np.uint8)
    return out


@dataclass
class Drawn:
    customers: int
    orders: Orders
    customer_ids: U8
    order_ids: U8
    first_order_at: I64
    partner: NDArray[np.int64]  # index into PARTNERS, per customer
    rank: I64  # the customer's number among its partner's customers (its external id "C-<rank>")
    seconds: float


def draw(params: SynthParams) -> Drawn:
    """bench/scoring's drawing (synth.draw) keeping the arrays, ordered by time as orders happen."""
    t0 = time.perf_counter()
    drawn = draw_arrays(params)
    rng, customer_ids, orders, first_order_at = drawn.rng, drawn.customer_ids, drawn.orders, drawn.first_order_at
    partner = rng.choice(len(PARTNERS), params.customers, p=PARTNER_WEIGHTS)
    rank = np.empty(params.customers, dtype=np.int64)
    for p in range(len(PARTNERS)):
        mine = np.flatnonzero(partner == p)
        rank[mine] = np.arange(len(mine))
    order_ids = random_uuids(rng, len(orders.customer))
    return Drawn(
        params.customers, orders, customer_ids, order_ids, first_order_at, partner, rank, time.perf_counter() - t0
    )


CUSTOMER_TABLE_COLUMNS = (
    "id",
    "kind",
    "display_name",
    "first_name",
    "last_name",
    "email",
    "payment_terms",
    "created_at",
    "updated_at",
)
REF_COLUMNS = ("partner", "external_id", "customer_id")
# The API's insert columns up to the amount (crm_customer's ORDER_COLUMNS), then the lifecycle the base draws.
ORDER_TABLE_COLUMNS = (
    *ORDER_COLUMNS[: ORDER_COLUMNS.index("amount") + 1],
    "status",
    "refunded_amount",
    "cancelled_at",
    "created_at",
    "updated_at",
)


def encode_customer_rows(d: Drawn, start: int, stop: int, seed: int) -> tuple[U8, U8]:
    """(customers, customer_refs) tuples of customers start .. stop - 1."""
    rng = np.random.default_rng([seed, start])
    n = stop - start
    last = _last_names(np.random.default_rng(seed), 1000)
    first_i = rng.integers(0, len(FIRST_NAMES), n)
    last_i = rng.integers(0, len(last), n)
    # display names from a vocabulary of first x last (indexes into it), so text_column encodes them at once
    full = tuple(f"{f} {s}" for f in FIRST_NAMES for s in last)
    created = be_bytes(d.first_order_at[start:stop], ">i8")
    ids = d.customer_ids[start:stop]
    numbers = np.arange(start, stop, dtype=np.int64)
    customers = encode_tuples(
        [
            Column(ids, 16),
            text_column(KINDS, rng.choice(len(KINDS), n, p=KIND_WEIGHTS)),
            text_column(full, first_i * len(last) + last_i),
            text_column(FIRST_NAMES, first_i),
            text_column(last, last_i),
            Column(_emails(numbers), 9 + len(EMAIL_DOMAIN)),
            text_column(PAYMENT_TERMS, rng.choice(len(PAYMENT_TERMS), n, p=PAYMENT_WEIGHTS)),
            Column(created, 8),
            Column(created, 8),
        ]
    )
    refs = encode_tuples(
        [
            text_column(PARTNERS, d.partner[start:stop]),
            Column(fixed_ids(b"C-", d.rank[start:stop], 7), 9),
            Column(ids, 16),
        ]
    )
    return customers, refs


def _emails(numbers: I64) -> U8:
    """Unique, already normalized addresses: c<8 digits>@bench.example."""
    domain = np.broadcast_to(np.frombuffer(EMAIL_DOMAIN, np.uint8), (len(numbers), len(EMAIL_DOMAIN)))
    return np.concatenate([fixed_ids(b"c", numbers, 8), domain], axis=1)


def encode_order_rows(d: Drawn, start: int, stop: int) -> U8:
    o = d.orders.take(slice(start, stop))
    n = len(o.customer)
    status = np.where(o.is_cancelled, 1, np.where(o.is_refunded, 2, 0))
    at = be_bytes(o.ordered_at, ">i8")
    return encode_tuples(
        [
            Column(d.order_ids[start:stop], 16),
            text_column(PARTNERS, d.partner[o.customer]),
            Column(fixed_ids(b"O-", np.arange(start, stop, dtype=np.int64), 10), 12),
            Column(d.customer_ids[o.customer], 16),
            Column(at, 8),
            Column(np.broadcast_to(np.frombuffer(b"EUR", np.uint8), (n, 3)), 3),
            numeric_column(o.amount, 2, 3),
            text_column(STATUSES, status),
            numeric_column(o.refunded, 2, 3),
            Column(be_bytes(o.cancelled_at, ">i8"), np.where(o.is_cancelled, 8, -1).astype(np.int32)),
            Column(at, 8),
            Column(at, 8),
        ]
    )


async def _copy(dsn: str, table: str, columns: Sequence[str], chunks: Sequence[U8]) -> None:
    # Replica role: no foreign-key triggers (their lookups would run against tables without indexes).
    conn = await asyncpg.connect(dsn, server_settings={"session_replication_role": "replica"})
    try:
        await conn.copy_to_table(table, source=_copy_stream(chunks), columns=list(columns), format="binary")
    finally:
        await conn.close()


async def _secondary_index_ddl(conn: asyncpg.Connection, table: str) -> tuple[list[str], list[str]]:
    """(drop, create) for the indexes that back no constraint: keys stay (other tables' foreign keys
    depend on them), the rest is built after the COPY."""
    rows = await conn.fetch(
        "SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i "
        "WHERE i.indrelid = $1::regclass AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        table,
    )
    return [f"DROP INDEX {r['name']}" for r in rows], [r["def"] for r in rows]


async def load_tables(dsn: str, tables: dict[str, tuple[Sequence[str], list[U8]]]) -> dict[str, float]:
    """COPY each table (one connection per table, in parallel) without its indexes, then build them and
    VACUUM ANALYZE. Returns seconds per step."""
    conn = await asyncpg.connect(dsn)
    seconds: dict[str, float] = {}
    try:
        ddl = {t: await _secondary_index_ddl(conn, t) for t in tables}
        for drop, _ in ddl.values():
            for stmt in drop:
                await conn.execute(stmt)
        t0 = time.perf_counter()
        await asyncio.gather(*(_copy(dsn, t, cols, chunks) for t, (cols, chunks) in tables.items()))
        seconds["copy"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '1GB'")
        for _, create in ddl.values():
            for stmt in create:
                await conn.execute(stmt)
        seconds["indexes"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        await conn.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")
        seconds["vacuum_analyze"] = time.perf_counter() - t0
    finally:
        await conn.close()
    return seconds


def load_customer_db(dsn: str, d: Drawn, seed: int, chunk: int = 250_000) -> dict[str, float]:
    customers, refs = [], []
    for start in range(0, d.customers, chunk):
        c, r = encode_customer_rows(d, start, min(start + chunk, d.customers), seed)
        customers.append(c)
        refs.append(r)
    n = len(d.orders.customer)
    orders = [encode_order_rows(d, s, min(s + chunk * 2, n)) for s in range(0, n, chunk * 2)]
    tables = {
        "customers": (CUSTOMER_TABLE_COLUMNS, customers),
        "customer_refs": (REF_COLUMNS, refs),
        "orders": (ORDER_TABLE_COLUMNS, orders),
    }
    return asyncio.run(load_tables(dsn, tables))


def load_scoring_db(dsn: str, d: Drawn, seed: int, chunk: int = 500_000) -> dict[str, float]:
    lines = line_combos()
    n = len(d.orders.customer)
    purchases = [
        encode_purchases(d.orders.take(slice(s, s + chunk)), d.customer_ids, d.order_ids[s : s + chunk], lines)
        for s in range(0, n, chunk)
    ]
    rng = np.random.default_rng([seed, 1])
    known = [
        encode_customers(rng, d.customer_ids[s : s + chunk], d.first_order_at[s : s + chunk])
        for s in range(0, d.customers, chunk)
    ]
    return asyncio.run(
        load_tables(dsn, {"purchases": (PURCHASE_COLUMNS, purchases), "known_customers": (CUSTOMER_COLUMNS, known)})
    )


# Care rows of the base (100k complaints, 500k interactions per 1M customers), drawn server side in
# one statement each: these tables are small next to the orders, and their reads (lists, reports) need them.
CARE_SQL = (
    """
    INSERT INTO complaints (customer_id, category_key, severity, channel, subject, status, opened_at, due_at,
                            first_contact_resolution, resolved_at)
    SELECT id, (ARRAY['product_quality','service','delivery','price','billing','other'])[1 + (h % 6)],
           (ARRAY['low','medium','high','critical'])[1 + (h / 7 % 4)],
           (ARRAY['phone','email','chat','web'])[1 + (h / 31 % 4)], 'bench complaint',
           (ARRAY['open','in_progress','resolved','closed','closed','resolved'])[1 + (h / 11 % 6)],
           at, at + interval '3 days',
           h % 3 = 0, CASE WHEN h / 11 % 6 >= 2 THEN at + interval '2 days' END
    FROM (SELECT id, abs(hashtext(id::text)) AS h,
                 created_at + (abs(hashtext(id::text || 'c')) % 600) * interval '1 day' AS at
          FROM customers ORDER BY id LIMIT $1::int) AS s
    CROSS JOIN generate_series(1, 1 + (h % 3 = 0)::int) AS g
    """,
    """
    INSERT INTO interactions (customer_id, channel, direction, subject, occurred_at)
    SELECT id, (ARRAY['call','email','sms','chat'])[1 + (h % 4)], (ARRAY['inbound','outbound'])[1 + (h / 5 % 2)],
           'bench interaction', created_at + ((h / 3 + g * 97) % 700) * interval '1 day'
    FROM (SELECT id, created_at, abs(hashtext(id::text)) AS h FROM customers ORDER BY id DESC LIMIT $1::int) AS s
    CROSS JOIN generate_series(1, 2) AS g
    """,
    """
    INSERT INTO customer_tags (customer_id, tag_key, source)
    SELECT id, 'member', 'manual' FROM customers WHERE abs(hashtext(id::text)) % 50 = 0
    """,
)


async def add_care_rows(dsn: str, customers: int) -> float:
    """~10% of customers complain (a third of them twice), ~25% have two interactions, 2% are members."""
    t0 = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(CARE_SQL[0], customers * 3 // 40)
        await conn.execute(CARE_SQL[1], customers // 4)
        await conn.execute(CARE_SQL[2])
        await conn.execute("VACUUM (ANALYZE) complaints, interactions, customer_tags")
    finally:
        await conn.close()
    return time.perf_counter() - t0
