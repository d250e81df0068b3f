"""Per-customer purchase summaries as of a date, as NumPy arrays.

PostgreSQL only selects and nets: the orders placed up to `as_of` and not cancelled by then, each net of the
refunds made by then (each partial refund from its own time), streamed out by binary COPY (for the whole base,
a sequential scan: aggregating in SQL made the planner walk the customer index and read the heap at random).
NumPy then sorts them by customer and time and aggregates: purchase days (several orders on one day are one
purchase occasion for the models), first and last purchase, totals, the first day's spend (which Gamma-Gamma
leaves out), the last 12 months and the two trend windows. Known customers without a purchase are included
(prospects: introduction stage). The same code serves one customer (an event) and the whole base (a batch),
so both see the same figures.

The tenant rule set (rules/schemas.py Tenant) is applied here and only here: each order's net is converted to
the reporting currency at the rate in force on its local order day (currency_rates/convert.py); an order
without a rate keeps its purchase day but not its money (NaN, left out of every sum, counted in `n_unpriced`).
Days are the tenant time zone's: `local_epochs` turns the orders' UTC epochs into local wall-clock ones, whose
dates are the purchase days, and `day_number` numbers `as_of` in the same zone.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

import asyncpg
import numpy as np

from ..batch.memory import trim_heap
from ..currency_rates.convert import rate_table
from ..rules.schemas import Tenant
from .binary_copy import copy_out, copy_out_parts, unix_seconds
from .timing import stopwatch

EPOCH = date(1970, 1, 1)
SECONDS_PER_DAY = 86_400
DAYS_PER_MONTH = 365.25 / 12
PAYMENT_TERMS = ("prepaid", "cash", "on_time", "on_account")  # code = index + 1; 0 = unknown
BRAND_CONTRIBUTIONS = ("none", "public_figure", "senior_position")

_ORDER_COLUMNS = (
    ("customer_id", "uuid"),
    ("at", "timestamptz"),
    ("net", "int8"),  # cents
    ("currency", "char(3)"),
)
# Net of the refunds made by $1, in cents: all of them when the latest was (nearly always), else the largest
# refunded total reached by then, from the refund history (looked up only for orders refunded again after $1).
# The columns go out in their own binary forms (the money in the orders' whole-cents columns; timestamps and
# currencies as they are) and NumPy converts them: numeric to float8 and extract(epoch) (numeric since
# PostgreSQL 14) go through text, and tagging the currency with array_position() per order was as costly; at
# 10M orders the server spent 3x the CPU on those expressions than on reading the rows.
_ORDERS_SQL = """
SELECT p.customer_id, p.ordered_at,
       CASE WHEN p.refunded_cents = 0 THEN p.amount_cents
            WHEN p.refunded_at <= $1::timestamptz THEN p.amount_cents - p.refunded_cents
            ELSE p.amount_cents - coalesce((SELECT (max(r.refunded_total) * 100)::int8 FROM purchase_refunds r
                                            WHERE r.order_id = p.order_id AND r.refunded_at <= $1::timestamptz), 0)
       END,
       p.currency::char(3)
FROM purchases p
WHERE p.ordered_at <= $1::timestamptz AND (p.cancelled_at IS NULL OR p.cancelled_at > $1::timestamptz) {filter}
"""


def _codes(column: str, vocabulary: Sequence[str]) -> str:
    whens = " ".join(f"WHEN '{v}' THEN {i + 1}" for i, v in enumerate(vocabulary))
    return f"(CASE k.{column} {whens} ELSE 0 END)::int2"


_CUSTOMER_COLUMNS = (
    ("customer_id", "uuid"),
    ("prospect", "bool"),
    ("payment_terms", "int2"),
    ("brand_contribution", "int2"),
    ("declared_budget", "float8"),
    ("share_of_wallet", "float8"),
)
_CUSTOMERS_SQL = f"""
SELECT k.customer_id, k.created_at <= $1::timestamptz,
       {_codes("payment_terms", PAYMENT_TERMS)}, {_codes("brand_contribution", BRAND_CONTRIBUTIONS)},
       coalesce(k.declared_budget::float8, 'NaN'), coalesce(k.share_of_wallet::float8, 'NaN')
FROM known_customers k
WHERE k.merged_into IS NULL {{filter}}
"""

INT_FIELDS = ("n_days", "n_orders", "n_unpriced", "first_day", "last_day", "days_recent", "days_prev")
FLOAT_FIELDS = ("first_at", "last_at", "total", "first_spend", "spend_12m", "spend_recent", "spend_prev")
# What the churn choice reads of the earlier split (selection/: the split, the classifier's features, the
# purchase models' inputs): the split holds only these, and no customer attributes (at 1M the rest were
# ~55 MB held through the choice, when the batch's memory peaks).
SPLIT_FIELDS = (
    "n_days",
    "n_orders",
    "n_unpriced",
    "first_day",
    "last_day",
    "days_recent",
    "days_prev",
    "total",
    "first_spend",
)


@dataclass(frozen=True)
class Summaries:
    """Column arrays, one entry per customer: `customer_id` (16-byte records), the purchase aggregates
    (INT_FIELDS, FLOAT_FIELDS; zeros and NaN times without purchase) and the score attributes."""

    columns: dict[str, np.ndarray]
    as_of: datetime
    as_of_day: int
    # The buyers as of an earlier date, when asked for (read_summaries): SPLIT_FIELDS only.
    earlier: Summaries | None = None
    tenant: Tenant = field(default_factory=Tenant)  # the reporting currency and the time zone the figures are in

    def __len__(self) -> int:
        return len(self.columns["customer_id"])

    def __getitem__(self, column: str) -> np.ndarray:
        return self.columns[column]

    def customer_ids(self) -> list[uuid.UUID]:
        raw = self.columns["customer_id"].tobytes()
        return [uuid.UUID(bytes=raw[i : i + 16]) for i in range(0, len(raw), 16)]

    def day_of(self, instant: datetime) -> int:
        """The day number of `instant` in the zone of these figures (to compare with `as_of_day`)."""
        return day_number(instant, self.tenant.time_zone)

    def money_notes(self) -> dict[str, Any]:
        """For a run's stats: the currency the spend is in and what could not be converted to it."""
        unpriced = self.columns["n_unpriced"]
        return {
            "reporting_currency": self.tenant.reporting_currency,
            "time_zone": self.tenant.time_zone,
            "unconverted_orders": int(unpriced.sum()),
            "unconverted_customers": int(np.count_nonzero(unpriced)),
        }


def day_number(instant: datetime, zone: str = "UTC") -> int:
    """Days since 1970-01-01 of the date `instant` falls on in `zone` (an IANA name)."""
    return (instant.astimezone(ZoneInfo(zone)).date() - EPOCH).days


def local_epochs(at: np.ndarray, zone: str) -> np.ndarray:
    """UTC epochs -> the wall-clock epochs of `zone` (seconds since 1970-01-01 00:00 local), whose floor
    division by a day gives local dates. The offset is looked up once per UTC day (at its start and at the next
    day's); only the orders of a day whose offset changes (a DST or zone change) are looked up one by one.
    In NumPy rather than SQL: `AT TIME ZONE` on every order added ~0.7 s to reading 2M orders, this ~0.24 s."""
    if zone == "UTC" or len(at) == 0:
        return at
    tz = ZoneInfo(zone)

    def offsets(instants: Iterable[float]) -> np.ndarray:
        return np.array([datetime.fromtimestamp(t, tz).utcoffset().total_seconds() for t in instants])  # type: ignore[union-attr]

    day = np.floor(at / SECONDS_PER_DAY).astype(np.int64)
    first = int(day.min())
    bounds = offsets(float(d) * SECONDS_PER_DAY for d in range(first, int(day.max()) + 2))
    day -= first  # an index into `bounds`, in place: one pass over the orders per step, no copies
    offset = bounds[day]
    changing = np.flatnonzero((bounds[1:] != bounds[:-1])[day])  # the days whose offset changes, looked up per day
    del day
    if len(changing):
        offset[changing] = offsets(at[changing].tolist())
    return at + offset


def id_halves(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 16-byte id as two unsigned 64-bit halves: sortable, comparable, exact."""
    pairs = np.ascontiguousarray(ids).view(">u8").reshape(-1, 2)  # a view: no second copy of the ids
    return pairs[:, 0].astype(np.uint64), pairs[:, 1].astype(np.uint64)


def _id_runs(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An order that sorts 16-byte ids (given as `id_halves`) by their bytes, and a mask of the sorted positions
    where a new id starts. NumPy's vectorised quicksort of the high halves is ~5x faster than a lexsort of
    both halves (faster still than a sort of 16-byte strings); only the runs of equal high halves holding
    different ids (ids sharing their first 8 bytes: rare for random ids) are then lexsorted by both. Equal ids
    come out in no particular order."""
    order = np.argsort(hi)
    h, low = hi[order], lo[order]
    same = h[1:] == h[:-1]
    del h
    other_low = low[1:] != low[:-1]
    mixed = same & other_low
    if mixed.any():
        run = np.cumsum(np.concatenate(([0], ~same)))  # run of equal high halves, per sorted position
        redo = np.zeros(int(run[-1]) + 1, dtype=bool)
        redo[run[1:][mixed]] = True
        spots = np.flatnonzero(redo[run])  # whole runs, in high-half order: a sort of them stays in place
        sub = order[spots]
        order[spots] = sub[np.lexsort((lo[sub], hi[sub]))]
        low[spots] = lo[order[spots]]
        other_low = low[1:] != low[:-1]
    first = np.ones(len(order), dtype=bool)
    first[1:] = ~same | other_low
    return order, first


def _key_order(key: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The order sorting `key` (int64) with equal keys in (time, position) order: NumPy's vectorised quicksort
    (~3x faster than a stable sort), then a lexsort of only the runs of equal keys (rare)."""
    order = np.argsort(key)
    sorted_key = key[order]
    tie = sorted_key[1:] == sorted_key[:-1]
    if tie.any():
        spots = np.flatnonzero(np.concatenate(([False], tie)) | np.concatenate((tie, [False])))
        sub = order[spots]  # whole runs in key order: a sort of them by (key, time, position) stays in place
        order[spots] = sub[np.lexsort((sub, at[sub], sorted_key[spots]))]
    return order


# Orders aggregated at once: above this, in slices of customers by the first byte of their id. Each slice's
# sort and per-order copies take a fraction of the memory (at 10M orders the whole base at once added ~700 MB
# over its inputs), and the slices, in byte order, concatenate to the same result in the same id order.
# READ_THREADS slices are aggregated at once (NumPy releases the GIL in its sorts, gathers and reductions, and
# the database is idle meanwhile): 2x faster on two cores (10M orders: 500k-order slices one at a time 2.5 s,
# two at a time 1.26 s). Smaller slices hold less memory at once (two of them ~1/4 of a 2M-order slice's
# working set) and sort a little faster (closer to the CPU caches), but each costs a pass over all the orders'
# slice numbers to pick its rows: by CPU time, 500k-order slices were the best (2M: +15%, 125k: +2%).
SLICE_ORDERS = 500_000
READ_THREADS = 2
KEY_BITS = 63  # the packed sort key of `_aggregate_slice` (int64), else the lexsort


Aggregated: TypeAlias = tuple[np.ndarray, dict[str, np.ndarray]]  # distinct customer ids, per-customer aggregates


def aggregate(
    customer: np.ndarray,
    at: np.ndarray,
    net: np.ndarray,
    as_of_day: int,
    window: int,
    local: np.ndarray | None = None,
) -> Aggregated:
    """Orders -> (distinct customer ids, per-customer aggregates), in customer id order. `local`: the orders'
    local wall-clock epochs, whose dates are the purchase days (default: UTC days). A NaN net (money not
    known) counts in `n_unpriced` and in no sum."""
    return _by_slices(customer, lambda rows: _aggregate_slice(customer, at, net, as_of_day, window, local, rows))[0]


def aggregate_split(
    customer: np.ndarray,
    at: np.ndarray,
    net: np.ndarray,
    as_of_day: int,
    window: int,
    local: np.ndarray | None,
    then_day: int,
    cutoff: float,
) -> tuple[Aggregated, Aggregated]:
    """`aggregate` of all the orders, and of those placed at or before `cutoff` (a Unix epoch) as of `then_day`
    (a batch's earlier split), from one sort: the orders sorted by customer and time stay so when the later
    ones are left out (the second sort made ~40% of the two aggregations)."""
    whole, split = _by_slices(
        customer, lambda rows: _aggregate_slice(customer, at, net, as_of_day, window, local, rows, (then_day, cutoff))
    )
    return whole, split


def _by_slices(
    customer: np.ndarray, job: Callable[[np.ndarray | slice], tuple[Aggregated, ...]]
) -> tuple[Aggregated, ...]:
    """`job(rows)` over slices of customers by the first byte of their id (rows: the positions of a slice's
    orders), READ_THREADS at once; each of the job's results joined over the slices in id order."""
    slices = -(-len(customer) // SLICE_ORDERS)
    if slices <= 1:
        return job(slice(None))
    # Each order's slice number, from the first byte of its id, once (not two comparisons per slice).
    edges = np.linspace(0, 256, min(slices, 256) + 1).astype(np.int64)
    slice_of = np.repeat(np.arange(len(edges) - 1, dtype=np.uint8), np.diff(edges))
    number = slice_of[np.ascontiguousarray(customer).view(np.uint8).reshape(-1, 16)[:, 0]]
    with ThreadPoolExecutor(READ_THREADS) as pool:
        parts = list(pool.map(lambda part: job(np.flatnonzero(number == part)), range(len(edges) - 1)))
    trim_heap()  # the slices' working sets, freed in the threads' arenas
    return tuple(_join([p[k] for p in parts]) for k in range(len(parts[0])))


def _join(parts: list[Aggregated]) -> Aggregated:
    ids = np.concatenate([p[0] for p in parts])
    # Column by column, each slice's part dropped once joined: the aggregates are held ~1x, not 2x, at the end.
    joined = {name: np.concatenate([p[1].pop(name) for p in parts]) for name in list(parts[0][1])}
    del parts[:]
    trim_heap()  # the slices' parts
    return ids, joined


def _empty(customer: np.ndarray, fields: Sequence[str] = INT_FIELDS + FLOAT_FIELDS) -> Aggregated:
    """No customers' aggregates (`fields` of them)."""
    empty = {name: np.zeros(0, dtype=np.int64 if name in INT_FIELDS else np.float64) for name in fields}
    return np.ascontiguousarray(customer[:0]), empty


def _aggregate_slice(
    customer: np.ndarray,
    at: np.ndarray,
    net: np.ndarray,
    as_of_day: int,
    window: int,
    local: np.ndarray | None,
    rows: np.ndarray | slice,
    earlier: tuple[int, float] | None = None,
) -> tuple[Aggregated, ...]:
    """The aggregates of the orders at `rows`; with `earlier` (then_day, cutoff), also those of the orders
    placed by the cutoff as of then_day (SPLIT_FIELDS)."""
    customer, at, net = customer[rows], at[rows], net[rows]
    local = None if local is None else local[rows]
    if len(at) == 0:
        return (_empty(customer),) if earlier is None else (_empty(customer), _empty(customer, SPLIT_FIELDS))
    order, new_customer = _sort_orders(customer, at, local)
    at = at[order]
    day = np.floor((at if local is None else local[order]) / SECONDS_PER_DAY).astype(np.int64)
    net = net[order]
    ids = customer[order[new_customer]]
    del order, customer, local
    if earlier is None:
        return (_summarise(ids, new_customer, at, day, net, as_of_day, window),)
    then_day, cutoff = earlier
    # The earlier orders, still sorted; their customers numbered among all, then flagged where they change.
    kept = at <= cutoff
    which = (np.cumsum(new_customer) - 1)[kept]
    first = np.ones(len(which), dtype=bool)
    first[1:] = which[1:] != which[:-1]
    before = (ids[which[first]], first, at[kept], day[kept], net[kept])
    del kept, which, first
    whole = _summarise(ids, new_customer, at, day, net, as_of_day, window)
    return whole, _summarise(*before, then_day, window, SPLIT_FIELDS)


def _sort_orders(customer: np.ndarray, at: np.ndarray, local: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The order sorting orders by customer, then by local day (where a zone's clock goes back over midnight,
    time order alone could revisit a day), then by time, ties in input order; and a mask of the sorted positions
    where a customer's orders start. What a stable lexsort of (time, day, id) gives, in 1/4 of its time, as a
    quicksort of one int64 key: the customer's rank in id order (a sort of the ids' high halves), the day's
    offset, and the time scaled to the bits left (2**47 steps at 250k orders: ~0.7 us over 3 years). The scaled
    time never decreases with the time, so only orders on the same step can come out of order, and `_key_order`
    sorts those few by time and position."""
    n = len(at)
    by_id, first = _id_runs(*id_halves(customer))
    rank = np.empty(n, dtype=np.int64)
    rank[by_id] = np.cumsum(first) - 1
    del by_id, first
    sizes = np.bincount(rank)  # orders per customer, in id order: where each one's orders start once sorted
    new_customer = np.zeros(n, dtype=bool)
    new_customer[np.concatenate(([0], np.cumsum(sizes[:-1])))] = True
    day = None if local is None else np.floor(local / SECONDS_PER_DAY).astype(np.int64)
    day_low = 0 if day is None else int(day.min())
    day_bits = 0 if day is None else (int(day.max()) - day_low).bit_length()
    time_bits = min(KEY_BITS - (len(sizes) - 1).bit_length() - day_bits, 52)
    del sizes
    at_low, at_span = float(at.min()), float(at.max() - at.min())
    if time_bits >= 16 and np.isfinite(at_span):
        key = rank << (day_bits + time_bits)
        del rank
        if day is not None:
            key |= (day - day_low) << time_bits
        # Scaled to 2**(time_bits - 1) at most: float rounding cannot carry it into the day's bits.
        key |= ((at - at_low) * (2 ** (time_bits - 1) / max(at_span, 1.0))).astype(np.int64)
        return _key_order(key, at), new_customer
    # No room for the time (KEY_BITS lowered by a test; or times not finite): the lexsort.
    del rank
    hi, lo = id_halves(customer)
    return np.lexsort((at, lo, hi) if day is None else (at, day, lo, hi)), new_customer


def _summarise(
    ids: np.ndarray,
    new_customer: np.ndarray,
    at: np.ndarray,
    day: np.ndarray,
    net: np.ndarray,
    as_of_day: int,
    window: int,
    fields: Sequence[str] = INT_FIELDS + FLOAT_FIELDS,
) -> Aggregated:
    """The aggregates (`fields` of them) of orders sorted by customer, day and time: `new_customer` marks where
    each of `ids` starts. `net` is the caller's to spend (its NaNs become zeros here)."""
    n = len(at)
    if n == 0:  # e.g. an earlier split before anyone's first order
        return _empty(ids, fields)
    unpriced = np.isnan(net)
    net[unpriced] = 0.0
    new_day = new_customer.copy()
    new_day[1:] |= day[1:] != day[:-1]
    c_start = np.flatnonzero(new_customer)
    d_start = np.flatnonzero(new_day)
    k = len(c_start)
    first_day_index = np.searchsorted(d_start, c_start)  # a customer's first day starts with the customer
    # The customer index of each purchase day (a repeat of each customer's number: cheaper than a cumsum).
    d_customer = np.repeat(np.arange(k), np.diff(np.append(first_day_index, len(d_start))))
    d_day = day[d_start]
    d_net = np.add.reduceat(net, d_start)
    c_end = np.append(c_start[1:], n) - 1
    recent = d_day > as_of_day - window
    previous = (d_day > as_of_day - 2 * window) & ~recent

    def per_customer(weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(d_customer, weights=weights, minlength=k)

    make: dict[str, Callable[[], np.ndarray]] = {
        "n_days": lambda: per_customer().astype(np.int64),
        "n_orders": lambda: np.diff(np.append(c_start, n)).astype(np.int64),
        "n_unpriced": lambda: np.add.reduceat(unpriced.astype(np.int64), c_start),
        "first_day": lambda: day[c_start],
        "last_day": lambda: day[c_end],
        "first_at": lambda: at[c_start],
        "last_at": lambda: at[c_end],
        "total": lambda: np.add.reduceat(net, c_start),
        "first_spend": lambda: d_net[first_day_index],
        "spend_12m": lambda: per_customer(np.where(d_day > as_of_day - 365, d_net, 0.0)),
        "days_recent": lambda: per_customer(recent.astype(np.float64)).astype(np.int64),
        "days_prev": lambda: per_customer(previous.astype(np.float64)).astype(np.int64),
        "spend_recent": lambda: per_customer(np.where(recent, d_net, 0.0)),
        "spend_prev": lambda: per_customer(np.where(previous, d_net, 0.0)),
    }
    return ids, {name: make[name]() for name in fields}


async def read_summaries(
    conn: asyncpg.Connection,
    as_of: datetime,
    *,
    trend_window_days: int,
    customers: Sequence[uuid.UUID] | None = None,
    earlier: datetime | None = None,
    tenant: Tenant | None = None,
    helper: asyncpg.Connection | None = None,
    timings: dict[str, float] | None = None,
) -> Summaries:
    """Summaries of every customer (customers=None) or of the given ones, as of `as_of`. With `earlier`, the
    buyers' summaries as of that date too (`.earlier`), from the same read: the orders placed by then, as they
    stand at `as_of` (an order cancelled since is left out of both). `tenant`: the currency and zone (default:
    the tenant rule set in force). `helper`: a second connection in the same snapshot (`share_snapshot`) that
    reads half of the whole base's orders meanwhile. `timings` receives seconds per step."""
    lap = stopwatch({} if timings is None else timings)
    tenant = tenant or await _tenant(conn)
    args: list[object] = [as_of]
    order_filter = customer_filter = ""
    if customers is not None:
        args.append(list(customers))
        order_filter = "AND p.customer_id = ANY($2::uuid[])"
        customer_filter = "AND k.customer_id = ANY($2::uuid[])"
    rates = await rate_table(conn, tenant.reporting_currency)
    expected = await row_estimate(conn, "purchases") if customers is None else 0
    parts = [(conn, _ORDERS_SQL.format(filter=order_filter), args)]
    if helper is not None and customers is None:
        # Two halves of the table's pages, one backend each, each a TID range scan of its half (split by customer
        # id, both scanned every page: at 10M orders 3.2 CPU-s against 2.5); pages added since go to the second.
        middle = await conn.fetchval("SELECT pg_relation_size('purchases') / current_setting('block_size')::int8 / 2")
        parts = [
            (c, _ORDERS_SQL.format(filter=f"AND p.ctid {op} '({middle},0)'::tid"), args)
            for c, op in ((conn, "<"), (helper, ">="))
        ]
    orders = await copy_out_parts(parts, _ORDER_COLUMNS, expected_rows=expected)
    lap("orders")
    orders["at"] = unix_seconds(orders["at"])
    local = local_epochs(orders["at"], tenant.time_zone)
    cents, currency = orders["net"], rates.codes(orders.pop("currency"))
    orders["net"] = rates.convert(cents / 100.0, currency, np.floor(local / SECONDS_PER_DAY))
    del cents, currency
    lap("convert")
    expected = await row_estimate(conn, "known_customers") if customers is None else 0
    # Both splits aggregated before either is assembled, so the orders (~330 MB at 10M) are gone by then.
    as_of_day = day_number(as_of, tenant.time_zone)

    def aggregate_both(
        columns: dict[str, np.ndarray], local_days: np.ndarray | None
    ) -> tuple[Aggregated, Aggregated | None]:
        customer, at, net = columns["customer_id"], columns["at"], columns["net"]
        if earlier is None:
            return aggregate(customer, at, net, as_of_day, trend_window_days, local_days), None
        then_day = day_number(earlier, tenant.time_zone)
        return aggregate_split(
            customer, at, net, as_of_day, trend_window_days, local_days, then_day, earlier.timestamp()
        )

    known_sql = _CUSTOMERS_SQL.format(filter=customer_filter)
    local_days = None if tenant.time_zone == "UTC" else local  # UTC: the same numbers
    if customers is None:
        # The whole base: the server sends the known customers while the client aggregates the orders.
        known, (bought, bought_then) = await asyncio.gather(
            copy_out(conn, known_sql, _CUSTOMER_COLUMNS, *args, expected_rows=expected),
            asyncio.to_thread(aggregate_both, orders, local_days),
        )
    else:
        known = await copy_out(conn, known_sql, _CUSTOMER_COLUMNS, *args)
        bought, bought_then = aggregate_both(orders, local_days)
    lap("aggregate")
    del orders, local, local_days
    before = None
    if earlier is not None and bought_then is not None:
        before = _assemble(bought_then[0], bought_then[1], None, earlier, tenant, attributes=False)
    summaries = _assemble(bought[0], bought[1], known, as_of, tenant, before)
    lap("assemble")
    return summaries


async def share_snapshot(conn: asyncpg.Connection, helper: asyncpg.Connection) -> None:
    """Make `helper`'s transaction see exactly what `conn`'s does: both REPEATABLE READ, `helper`'s with nothing
    run in it yet."""
    snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
    await helper.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")


async def row_estimate(conn: asyncpg.Connection, table: str) -> int:
    """The planner's row count of a table (0 before its first ANALYZE): what a whole-base read allocates for."""
    return max(int(await conn.fetchval("SELECT reltuples FROM pg_class WHERE oid = $1::regclass", table)), 0)


async def _tenant(conn: asyncpg.Connection) -> Tenant:
    rules = await conn.fetchval("SELECT rules::text FROM rule_sets WHERE name = 'tenant'")
    return Tenant() if rules is None else Tenant.model_validate(json.loads(rules))


def _assemble(
    buyers: np.ndarray,
    agg: dict[str, np.ndarray],
    known: dict[str, np.ndarray] | None,
    as_of: datetime,
    tenant: Tenant,
    earlier: Summaries | None = None,
    *,
    attributes: bool = True,
) -> Summaries:
    """The buyers' aggregates (`aggregate`: the fields it made) joined with the known customers' attributes
    (`known` None: buyers only, with default attributes; `attributes=False`: none, for the earlier split)."""
    as_of_day = day_number(as_of, tenant.time_zone)
    # Everyone = the buyers, plus the known customers (prospects only if known by as_of), in id order: one sort
    # of the buyers and all the known customers together by id (`_id_runs`; as 16-byte strings, sorted and
    # searched, 5-8x slower), where an id is listed if a buyer or a prospect holds it. Its place among the listed
    # ids is where a buyer's aggregates and a known customer's attributes go.
    known_ids = known["customer_id"] if known is not None else buyers[:0]
    hi, lo = id_halves(np.concatenate([buyers, known_ids]))
    order, first = _id_runs(hi, lo)
    starts = np.flatnonzero(first)
    group = np.empty(len(order), dtype=np.int64)  # each row's id, numbered in id order
    group[order] = np.cumsum(first) - 1
    del first
    prospect = known["prospect"].astype(bool) if known is not None else np.zeros(0, dtype=bool)
    listed = np.concatenate([np.ones(len(buyers), dtype=bool), prospect])[order]
    keep = np.logical_or.reduceat(listed, starts) if len(starts) else np.zeros(0, dtype=bool)
    del listed
    place = np.cumsum(keep) - 1  # an id's index among the listed ones
    chosen = order[starts[keep]]
    del order, starts
    pairs = np.empty((len(chosen), 2), dtype=">u8")  # the listed ids' bytes again, from their halves
    pairs[:, 0], pairs[:, 1] = hi[chosen], lo[chosen]
    ids = pairs.view("V16").reshape(-1)
    del hi, lo, chosen, pairs
    n = len(ids)
    where = place[group[: len(buyers)]]
    known_at = place[group[len(buyers) :]]
    known_hit = keep[group[len(buyers) :]]
    del group, place, keep
    columns: dict[str, np.ndarray] = {"customer_id": ids}
    for name in INT_FIELDS + FLOAT_FIELDS:
        if name in agg:
            default = 0 if name in INT_FIELDS else np.nan if name.endswith("_at") else 0.0
            columns[name] = np.full(n, default, dtype=np.int64 if name in INT_FIELDS else np.float64)
            columns[name][where] = agg[name]
    if not attributes:
        return Summaries(columns, as_of, as_of_day, earlier, tenant)
    columns["payment_terms"] = np.zeros(n, dtype=np.int16)
    columns["brand_contribution"] = np.zeros(n, dtype=np.int16)
    columns["declared_budget"] = np.full(n, np.nan)
    columns["share_of_wallet"] = np.full(n, np.nan)
    if known is not None:
        for name in ("payment_terms", "brand_contribution", "declared_budget", "share_of_wallet"):
            columns[name][known_at[known_hit]] = known[name][known_hit]
    return Summaries(columns, as_of, as_of_day, earlier, tenant)
