"""A synthetic scoring base: customers, their purchases and the composite-score attributes, drawn with
NumPy and loaded with binary COPY into a migrated scoring database.

Purchase times follow an MBG/NBD story (the model the engine fits): each customer buys at a Gamma-
distributed rate from a first purchase spread over the period, and after each purchase drops out with a
Beta-distributed probability. Spend is Gamma-Gamma. Everything is drawn on flat arrays (no per-row
Python), then encoded straight into PostgreSQL's binary COPY format, which the server parses faster than
text (no timestamp or numeric parsing).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import numpy as np
from numpy.typing import NDArray
from sqlalchemy.engine import make_url

U8 = NDArray[np.uint8]
I64 = NDArray[np.int64]

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
US_PER_DAY = 86_400 * 1_000_000
PRODUCT_LINES = ("apparel", "footwear", "accessories", "beauty", "home", "electronics", "sports", "kids")
LINE_WEIGHTS = np.array([0.24, 0.16, 0.14, 0.12, 0.11, 0.09, 0.08, 0.06])
PAYMENT_TERMS = (None, "prepaid", "cash", "on_time", "on_account")
PAYMENT_WEIGHTS = np.array([0.30, 0.10, 0.20, 0.30, 0.10])
BRAND = (None, "none", "public_figure", "senior_position")
BRAND_WEIGHTS = np.array([0.50, 0.45, 0.01, 0.04])
VARCHAR_OID = 1043
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
PURCHASE_COLUMNS = (
    "order_id",
    "customer_id",
    "ordered_at",
    "amount",
    "currency",
    "refunded_amount",
    "refunded_at",
    "cancelled_at",
    "product_lines",
)
CUSTOMER_COLUMNS = (
    "customer_id",
    "payment_terms",
    "brand_contribution",
    "declared_budget",
    "share_of_wallet",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class SynthParams:
    """What to draw. `alpha` (the scale of the purchase rates) is solved for `orders_per_customer`."""

    customers: int = 1_000_000
    orders_per_customer: float = 10.0
    years: float = 3.0
    as_of: datetime = AS_OF
    seed: int = 20261101
    # MBG/NBD: purchase rate per day ~ Gamma(r, 1/alpha); drop-out probability after a purchase ~ Beta(a, b).
    r: float = 0.9
    a: float = 1.6
    b: float = 14.0
    # Gamma-Gamma spend: order value ~ Gamma(p, 1/nu), nu ~ Gamma(q, 1/gamma) per customer (mean ~ 60).
    spend: tuple[float, float, float] = (6.0, 4.0, 30.0)
    cancelled_share: float = 0.03
    refunded_share: float = 0.02
    two_lines_share: float = 0.35
    chunk_customers: int = 100_000

    @property
    def signature(self) -> str:
        """Stored as the database comment, so `--reuse` only reuses a base drawn with the same inputs."""
        return (
            f"bench-scoring synth v1: customers={self.customers} orders_per_customer={self.orders_per_customer}"
            f" years={self.years} as_of={self.as_of.isoformat()} seed={self.seed}"
        )


@dataclass
class Base:
    """The drawn base: one encoded COPY payload per table (tuples only; header and trailer added on send)."""

    customers: int
    orders: int
    purchases: list[U8] = field(default_factory=list)
    known_customers: list[U8] = field(default_factory=list)
    cancelled: int = 0
    refunded: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.purchases) + sum(c.nbytes for c in self.known_customers)


# --- binary COPY encoding -------------------------------------------------------------------------------


@dataclass
class Column:
    """One column as left-aligned big-endian bytes per row, and each row's length (-1 = NULL)."""

    payload: U8  # (n, width)
    length: NDArray[np.int32] | int


def encode_tuples(columns: Sequence[Column]) -> U8:
    """Binary COPY tuples for all rows at once. Every row is first laid out at its widest (each field padded
    to the column's width) in one 2-D array; a mask then drops the padding, and boolean indexing, which
    walks the array row by row, yields the tuples back to back in row order."""
    n = columns[0].payload.shape[0]
    width = 2 + sum(4 + c.payload.shape[1] for c in columns)
    rows = np.empty((n, width), dtype=np.uint8)
    rows[:, :2] = np.frombuffer(len(columns).to_bytes(2, "big"), dtype=np.uint8)
    keep: NDArray[np.bool_] | None = None
    pos = 2
    for col in columns:
        w = col.payload.shape[1]
        rows[:, pos + 4 : pos + 4 + w] = col.payload
        if isinstance(col.length, int):
            rows[:, pos : pos + 4] = np.frombuffer(col.length.to_bytes(4, "big", signed=True), dtype=np.uint8)
        else:
            rows[:, pos : pos + 4] = col.length.astype(">i4").view(np.uint8).reshape(n, 4)
        if not isinstance(col.length, int) or col.length != w:
            if keep is None:
                keep = np.ones((n, width), dtype=np.bool_)
            keep[:, pos + 4 : pos + 4 + w] = np.arange(w, dtype=np.int32) < np.maximum(col.length, 0)[:, None]
        pos += 4 + w
    return rows.reshape(-1) if keep is None else rows[keep]


def be_bytes(values: NDArray[np.generic], dtype: str) -> U8:
    """Fixed-width big-endian bytes of each value, as an (n, itemsize) array."""
    arr = np.ascontiguousarray(values.astype(dtype))
    return arr.view(np.uint8).reshape(len(arr), arr.dtype.itemsize)


def random_uuids(rng: np.random.Generator, n: int) -> U8:
    """n version-4 UUIDs as (n, 16) bytes."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return raw


def numeric_column(units: I64, scale: int, int_groups: int, null: NDArray[np.bool_] | None = None) -> Column:
    """PostgreSQL's binary numeric for non-negative fixed-point values (`units` = value * 10**scale), at a
    fixed width: leading zero base-10000 digits are allowed (the server strips them)."""
    frac_groups = -(-scale // 4)
    ip = units // 10**scale
    frac = (units % 10**scale) * 10 ** (4 * frac_groups - scale)
    digits = [(ip // 10_000**k) % 10_000 for k in reversed(range(int_groups))]
    digits += [(frac // 10_000**k) % 10_000 for k in reversed(range(frac_groups))]
    n = len(units)
    head = np.array([int_groups + frac_groups, int_groups - 1, 0, scale], dtype=">i2")
    payload = np.concatenate([np.broadcast_to(head, (n, 4)), np.stack(digits, axis=1)], axis=1)
    out = np.ascontiguousarray(payload.astype(">i2")).view(np.uint8).reshape(n, -1)
    width = out.shape[1]
    length = width if null is None else np.where(null, -1, width).astype(np.int32)
    return Column(out, length)


def text_column(values: Sequence[str | None], index: NDArray[np.integer]) -> Column:
    """A varchar column from a small vocabulary (None = NULL), each row given by its index into it."""
    encoded = [v.encode() if v is not None else b"" for v in values]
    width = max(1, max(len(e) for e in encoded))
    table = np.zeros((len(values), width), dtype=np.uint8)
    for i, e in enumerate(encoded):
        table[i, : len(e)] = np.frombuffer(e, dtype=np.uint8)
    lengths = np.array([len(e) if v is not None else -1 for e, v in zip(encoded, values, strict=True)], np.int32)
    return Column(table[index], lengths[index])


def line_combos() -> tuple[U8, NDArray[np.int32]]:
    """Binary varchar[] values for every product-line choice: combo i < 8 is the single line i, combo
    8 + 8*i + j the pair (i, j). Returns the padded table and each value's length."""
    values: list[bytes] = []
    names = [n.encode() for n in PRODUCT_LINES]
    combos = [[i] for i in range(len(names))] + [[i, j] for i in range(len(names)) for j in range(len(names))]
    for combo in combos:
        head = [1, 0, VARCHAR_OID, len(combo), 1]  # ndim, has-nulls, element type, length, lower bound
        blob = b"".join(v.to_bytes(4, "big") for v in head)
        blob += b"".join(len(names[k]).to_bytes(4, "big") + names[k] for k in combo)
        values.append(blob)
    width = max(map(len, values))
    table = np.zeros((len(values), width), dtype=np.uint8)
    for i, v in enumerate(values):
        table[i, : len(v)] = np.frombuffer(v, dtype=np.uint8)
    return table, np.array([len(v) for v in values], dtype=np.int32)


# --- drawing ----------------------------------------------------------------------------------------------


def repeat_purchases(
    rng: np.random.Generator, lam: NDArray[np.float64], p: NDArray[np.float64], window: NDArray[np.float64]
) -> tuple[I64, NDArray[np.float64]]:
    """MBG/NBD repeat purchases in each customer's window (in days): returns the count per customer and, in
    customer order, each purchase's position in the window as a fraction in (0, 1), increasing.

    The Poisson process has N ~ Poisson(lam * window) arrivals, of which the customer lives through the
    first k (k ~ Geometric(p) - 1: may drop out right after the first purchase). Only min(N, k) times are
    drawn: the first m of N sorted uniforms are S_1..S_m / S_{N+1} with S the partial sums of N+1 unit
    exponentials, and S_{N+1} - S_m ~ Gamma(N + 1 - m)."""
    n_arrivals = rng.poisson(lam * window)
    k_max = rng.geometric(p) - 1
    x = np.minimum(n_arrivals, k_max)
    owner = np.repeat(np.arange(len(x)), x)
    sums = np.cumsum(rng.standard_exponential(int(x.sum())))
    ends = np.cumsum(x)
    before = np.concatenate([[0.0], sums])[ends - x]  # the running sum before each customer's first gap
    partial = sums - before[owner]
    last = np.where(x > 0, np.concatenate([[0.0], sums])[ends] - before, 0.0)
    total = last + rng.gamma(n_arrivals - x + 1.0)
    return x.astype(np.int64), partial / total[owner]


def solve_alpha(params: SynthParams) -> float:
    """The rate scale giving `orders_per_customer` on average, by bisection on a fixed pilot sample (the
    count falls as alpha grows)."""
    n = min(params.customers, 200_000)
    period = params.years * 365.25

    def mean_orders(alpha: float) -> float:
        rng = np.random.default_rng(params.seed + 1)
        lam = rng.gamma(params.r, 1.0 / alpha, n)
        p = np.clip(rng.beta(params.a, params.b, n), 1e-12, 1.0)
        window = period - rng.uniform(0.0, period, n)
        return 1.0 + float(np.minimum(rng.poisson(lam * window), rng.geometric(p) - 1).mean())

    lo, hi = 1e-2, 1e5
    if mean_orders(lo) < params.orders_per_customer:
        raise ValueError(f"cannot reach {params.orders_per_customer} orders per customer with these params")
    for _ in range(30):
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if mean_orders(mid) > params.orders_per_customer else (lo, mid)
    return (lo * hi) ** 0.5


@dataclass
class Orders:
    """Columns of the drawn purchases (customer by index, times in microseconds since 2000-01-01)."""

    customer: I64
    ordered_at: I64
    amount: I64  # cents
    refunded: I64  # cents
    refunded_at: I64
    cancelled_at: I64
    is_refunded: NDArray[np.bool_]
    is_cancelled: NDArray[np.bool_]
    combo: I64

    def take(self, idx: NDArray[np.integer] | slice) -> Orders:
        return Orders(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))


def draw_orders(rng: np.random.Generator, params: SynthParams, alpha: float, first: int, n: int) -> Orders:
    """Purchases of customers first .. first + n - 1."""
    r, a, b = params.r, params.a, params.b
    period_days = params.years * 365.25
    end_us = int((params.as_of - PG_EPOCH).total_seconds()) * 1_000_000
    start_us = end_us - int(period_days * US_PER_DAY)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = np.clip(rng.beta(a, b, n), 1e-12, 1.0)
    birth = rng.uniform(0.0, period_days, n)  # the first purchase, in days from the start
    window = period_days - birth
    x, frac = repeat_purchases(rng, lam, p, window)
    count = x + 1
    owner = np.repeat(np.arange(n), count)
    # Each customer's orders: the first purchase, then its repeat purchases (already increasing).
    days = birth[owner].copy()
    is_first = np.zeros(len(owner), dtype=np.bool_)
    is_first[np.cumsum(count) - count] = True
    days[~is_first] += frac * window[np.repeat(np.arange(n), x)]
    ordered_at = start_us + (days * US_PER_DAY).astype(np.int64)
    ordered_at = np.minimum(ordered_at, end_us - 1)
    total = len(owner)

    pp, q, g = params.spend
    nu = rng.gamma(q, 1.0 / g, n)
    amount = np.clip(np.rint(rng.gamma(pp, 1.0 / nu[owner]) * 100), 1, 10**9).astype(np.int64)

    fate = rng.random(total)
    cancelled = fate < params.cancelled_share
    refunded = (fate >= params.cancelled_share) & (fate < params.cancelled_share + params.refunded_share)
    room = (end_us - ordered_at) // 2  # keep cancellations and refunds before as_of
    cancel_delay = np.minimum((rng.exponential(2.0, total) * US_PER_DAY).astype(np.int64), room)
    refund_delay = np.minimum((rng.exponential(14.0, total) * US_PER_DAY).astype(np.int64), room)
    refund_cents = np.maximum(1, np.floor(amount * rng.uniform(0.1, 0.9, total))).astype(np.int64)

    nl = len(PRODUCT_LINES)
    line1 = rng.choice(nl, size=total, p=LINE_WEIGHTS)
    line2 = (line1 + 1 + rng.integers(0, nl - 1, total)) % nl
    two = rng.random(total) < params.two_lines_share
    combo = np.where(two, nl + nl * line1 + line2, line1)
    return Orders(
        customer=first + owner,
        ordered_at=ordered_at,
        amount=amount,
        refunded=np.where(refunded, refund_cents, 0),
        refunded_at=ordered_at + np.maximum(refund_delay, 1),
        cancelled_at=ordered_at + np.maximum(cancel_delay, 1),
        is_refunded=refunded,
        is_cancelled=cancelled,
        combo=combo,
    )


def encode_purchases(orders: Orders, customer_ids: U8, order_ids: U8, lines: tuple[U8, NDArray[np.int32]]) -> U8:
    table, lengths = lines
    n = len(orders.customer)
    return encode_tuples(
        [
            Column(order_ids, 16),
            Column(customer_ids[orders.customer], 16),
            Column(be_bytes(orders.ordered_at, ">i8"), 8),
            numeric_column(orders.amount, 2, 3),
            Column(np.broadcast_to(np.frombuffer(b"EUR", np.uint8), (n, 3)), 3),
            numeric_column(orders.refunded, 2, 3),
            Column(be_bytes(orders.refunded_at, ">i8"), np.where(orders.is_refunded, 8, -1).astype(np.int32)),
            Column(be_bytes(orders.cancelled_at, ">i8"), np.where(orders.is_cancelled, 8, -1).astype(np.int32)),
            Column(table[orders.combo], lengths[orders.combo]),
        ]
    )


def encode_customers(rng: np.random.Generator, customer_ids: U8, created_at: I64) -> U8:
    """known_customers with the composite-score attributes (many unknown, as in real data), created with
    their first order."""
    n = len(customer_ids)
    created = be_bytes(created_at, ">i8")
    budget = np.rint(rng.lognormal(np.log(2000.0), 1.0, n) * 100).astype(np.int64)
    share = np.rint(rng.beta(2.0, 3.0, n) * 10_000).astype(np.int64)
    return encode_tuples(
        [
            Column(customer_ids, 16),
            text_column(PAYMENT_TERMS, rng.choice(len(PAYMENT_TERMS), n, p=PAYMENT_WEIGHTS)),
            text_column(BRAND, rng.choice(len(BRAND), n, p=BRAND_WEIGHTS)),
            numeric_column(np.minimum(budget, 10**13), 2, 3, null=rng.random(n) < 0.7),
            numeric_column(share, 4, 1, null=rng.random(n) < 0.6),
            Column(created, 8),
            Column(created, 8),
        ]
    )


@dataclass
class DrawnArrays:
    rng: np.random.Generator  # continues the draw's stream, for whatever a caller draws next
    customer_ids: NDArray[np.uint8]
    orders: Orders  # ordered by time, as orders happen
    first_order_at: NDArray[np.int64]  # per customer, in customer order


def draw_arrays(params: SynthParams) -> DrawnArrays:
    """The customers and their purchases, drawn in customer chunks, then ordered by time."""
    alpha = solve_alpha(params)
    rng = np.random.default_rng(params.seed)
    customer_ids = random_uuids(rng, params.customers)
    parts = [
        draw_orders(rng, params, alpha, first, min(params.chunk_customers, params.customers - first))
        for first in range(0, params.customers, params.chunk_customers)
    ]
    orders = Orders(*(np.concatenate([getattr(p, f) for p in parts]) for f in Orders.__dataclass_fields__))
    del parts
    first_order_at = orders.ordered_at[np.flatnonzero(np.diff(orders.customer, prepend=-1))]
    orders = orders.take(np.argsort(orders.ordered_at, kind="stable"))
    return DrawnArrays(rng, customer_ids, orders, first_order_at)


def draw(params: SynthParams, *, rows_per_chunk: int = 500_000) -> Base:
    """Draw the whole base in memory, in customer chunks, then order purchases by time (the order rows land
    in as orders happen) and encode them."""
    t0 = time.perf_counter()
    drawn = draw_arrays(params)
    rng, customer_ids, orders, first_order_at = drawn.rng, drawn.customer_ids, drawn.orders, drawn.first_order_at
    t1 = time.perf_counter()
    base = Base(params.customers, len(orders.customer))
    base.cancelled, base.refunded = int(orders.is_cancelled.sum()), int(orders.is_refunded.sum())
    lines = line_combos()
    order_ids = random_uuids(rng, base.orders)
    starts = range(0, base.orders, rows_per_chunk)
    # NumPy releases the GIL in the copies that dominate encoding: one thread per core.
    with ThreadPoolExecutor(max(1, os.cpu_count() or 1)) as pool:
        base.purchases = list(
            pool.map(
                lambda s: encode_purchases(
                    orders.take(slice(s, s + rows_per_chunk)), customer_ids, order_ids[s : s + rows_per_chunk], lines
                ),
                starts,
            )
        )
    for start in range(0, params.customers, rows_per_chunk):
        stop = start + rows_per_chunk
        base.known_customers.append(encode_customers(rng, customer_ids[start:stop], first_order_at[start:stop]))
    t2 = time.perf_counter()
    base.seconds = {"draw": t1 - t0, "encode": t2 - t1}
    return base


# --- loading ------------------------------------------------------------------------------------------


def dsn(url: str) -> str:
    """asyncpg's form of a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _copy_stream(chunks: Sequence[U8], piece: int = 4 << 20) -> AsyncIterator[memoryview]:
    yield memoryview(COPY_HEADER)
    for chunk in chunks:
        view = memoryview(chunk)
        for start in range(0, len(view), piece):
            yield view[start : start + piece]
    yield memoryview(COPY_TRAILER)


async def copy_binary(dsn: str, table: str, columns: Sequence[str], chunks: Sequence[U8]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_to_table(table, source=_copy_stream(chunks), columns=list(columns), format="binary")
    finally:
        await conn.close()


async def _index_ddl(conn: asyncpg.Connection, table: str) -> tuple[list[str], list[str]]:
    """(drop, create) statements for a table's primary key and indexes, taken from the migrated schema; foreign
    keys of other tables that reference them (purchase_refunds -> purchases) go first and come back last."""
    drop, create = [], []
    referencing = await conn.fetch(
        "SELECT conname, conrelid::regclass::text AS owner, pg_get_constraintdef(oid) AS def FROM pg_constraint "
        "WHERE confrelid = $1::regclass AND contype = 'f'",
        table,
    )
    for f in referencing:
        drop.append(f'ALTER TABLE {f["owner"]} DROP CONSTRAINT "{f["conname"]}"')
    constraints = await conn.fetch(
        "SELECT conname, pg_get_constraintdef(oid) AS def, conindid FROM pg_constraint "
        "WHERE conrelid = $1::regclass AND contype IN ('p', 'u')",
        table,
    )
    for c in constraints:
        drop.append(f'ALTER TABLE {table} DROP CONSTRAINT "{c["conname"]}"')
        create.append(f'ALTER TABLE {table} ADD CONSTRAINT "{c["conname"]}" {c["def"]}')
    indexes = await conn.fetch(
        "SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS def FROM pg_index "
        "WHERE indrelid = $1::regclass AND indexrelid <> ALL($2::oid[])",
        table,
        [c["conindid"] for c in constraints],
    )
    for i in indexes:
        drop.append(f"DROP INDEX {i['name']}")
        create.append(i["def"])
    create.extend(f'ALTER TABLE {f["owner"]} ADD CONSTRAINT "{f["conname"]}" {f["def"]}' for f in referencing)
    return drop, create


async def load(dsn: str, base: Base, *, jobs: int = 2) -> dict[str, float]:
    """COPY the base in without indexes (building them afterwards is several times faster than keeping
    them current row by row), then VACUUM ANALYZE: hint bits and the visibility map set, statistics
    current, as on a table that has been live for a while. Returns seconds per step."""
    conn = await asyncpg.connect(dsn)
    seconds: dict[str, float] = {}
    try:
        ddl = {t: await _index_ddl(conn, t) for t in ("purchases", "known_customers")}
        for drop, _ in ddl.values():
            for stmt in drop:
                await conn.execute(stmt)
        t0 = time.perf_counter()
        # Purchases split over `jobs` connections (one COPY uses one server core); customers on the side.
        shares = [base.purchases[i::jobs] for i in range(jobs)]
        await asyncio.gather(
            *(copy_binary(dsn, "purchases", PURCHASE_COLUMNS, s) for s in shares if s),
            copy_binary(dsn, "known_customers", CUSTOMER_COLUMNS, base.known_customers),
        )
        seconds["copy"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '1GB'")
        for _, create in ddl.values():
            for stmt in create:
                await conn.execute(stmt)
        seconds["indexes"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE) purchases, known_customers")
        seconds["vacuum_analyze"] = time.perf_counter() - t0
    finally:
        await conn.close()
    return seconds
