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

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import numpy as np

from ..currency_rates.convert import rate_table
from ..rules.schemas import Tenant
from .binary_copy import copy_out, copy_out_parts, unix_seconds

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
# Net of the refunds made by $1: all of them when the latest was (nearly always), else the largest refunded
# total reached by then, from the refund history (looked up only for orders refunded again after $1).
# The columns go out in their own binary forms or the cheapest casts (numeric to int8 cents; timestamps and
# currencies as they are) and NumPy converts them: numeric to float8 and extract(epoch) (numeric since
# PostgreSQL 14) go through text, and tagging the currency with array_position() per order was as costly; at
# 10M orders the server spent 3x the CPU on those expressions than on reading the rows.
_ORDERS_SQL = """
SELECT p.customer_id, p.ordered_at,
       (CASE WHEN p.refunded_amount = 0 THEN p.amount
             WHEN p.refunded_at <= $1::timestamptz THEN p.amount - p.refunded_amount
             ELSE p.amount - coalesce((SELECT max(r.refunded_total) FROM purchase_refunds r
                                       WHERE r.order_id = p.order_id AND r.refunded_at <= $1::timestamptz), 0)
        END * 100)::int8,
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


@dataclass(frozen=True)
class Summaries:
    """Column arrays, one entry per customer: `customer_id` (16-byte records), the purchase aggregates
    (INT_FIELDS, FLOAT_FIELDS; zeros and NaN times without purchase) and the score attributes."""

    columns: dict[str, np.ndarray]
    as_of: datetime
    as_of_day: int
    earlier: Summaries | None = None  # the buyers as of an earlier date, when asked for (read_summaries)
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
    offset = bounds[day - first]
    changing = np.flatnonzero(bounds[day - first] != bounds[day - first + 1])
    if len(changing):
        offset[changing] = offsets(at[changing].tolist())
    return at + offset


def _halves(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 16-byte id as two unsigned 64-bit halves: sortable, comparable, exact."""
    pairs = np.ascontiguousarray(ids).view(">u8").reshape(-1, 2)  # a view: no second copy of the ids
    return pairs[:, 0].astype(np.uint64), pairs[:, 1].astype(np.uint64)


# Orders aggregated at once: above this, in slices of customers by the first byte of their id. Each slice's
# sort and per-order copies take a fraction of the memory (at 10M orders the whole base at once added ~700 MB
# over its inputs), and the slices, in byte order, concatenate to the same result in the same id order.
SLICE_ORDERS = 2_000_000
HALF = "80000000-0000-0000-0000-000000000000"  # the ids' midpoint, where a two-connection read splits


def aggregate(
    customer: np.ndarray,
    at: np.ndarray,
    net: np.ndarray,
    as_of_day: int,
    window: int,
    local: np.ndarray | None = None,
    keep: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Orders -> (distinct customer ids, per-customer aggregates), in customer id order. `local`: the orders'
    local wall-clock epochs, whose dates are the purchase days (default: UTC days). A NaN net (money not
    known) counts in `n_unpriced` and in no sum. `keep`: a mask of the orders to count (the others are left
    out slice by slice, never copied as a whole)."""
    slices = -(-len(at) // SLICE_ORDERS)
    if slices <= 1:
        rows = slice(None) if keep is None else np.flatnonzero(keep)
        return _aggregate_slice(
            customer[rows], at[rows], net[rows], as_of_day, window, None if local is None else local[rows]
        )
    first_byte = np.ascontiguousarray(customer).view(np.uint8).reshape(-1, 16)[:, 0]
    edges = np.linspace(0, 256, min(slices, 256) + 1).astype(np.int64)
    parts = []
    for low, high in pairwise(edges):
        chosen = (first_byte >= low) & (first_byte < high)
        if keep is not None:
            chosen &= keep
        rows = np.flatnonzero(chosen)
        del chosen
        parts.append(
            _aggregate_slice(
                customer[rows], at[rows], net[rows], as_of_day, window, None if local is None else local[rows]
            )
        )
    ids = np.concatenate([p[0] for p in parts])
    return ids, {name: np.concatenate([p[1][name] for p in parts]) for name in parts[0][1]}


def _aggregate_slice(
    customer: np.ndarray,
    at: np.ndarray,
    net: np.ndarray,
    as_of_day: int,
    window: int,
    local: np.ndarray | None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    if len(at) == 0:
        empty: dict[str, np.ndarray] = {name: np.zeros(0, dtype=np.int64) for name in INT_FIELDS}
        empty.update({name: np.zeros(0) for name in FLOAT_FIELDS})
        return np.ascontiguousarray(customer), empty
    hi, lo = _halves(customer)
    # By local day first: where a zone's clock goes back over midnight, time order alone could revisit a day.
    # In UTC time order is day order, and the days are computed after the sort (one 80 MB array less at its peak).
    day = None if local is None else np.floor(local / SECONDS_PER_DAY).astype(np.int64)
    order = np.lexsort((at, lo, hi) if day is None else (at, day, lo, hi))
    # One column reordered at a time, and the id halves dropped once the customer boundaries are known: at 10M
    # orders each column is 80 MB, and holding them all twice made this the batch's peak of memory.
    hi = hi[order]
    lo = lo[order]
    n = len(at)
    new_customer = np.ones(n, dtype=bool)
    new_customer[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
    del hi, lo
    at = at[order]
    day = np.floor(at / SECONDS_PER_DAY).astype(np.int64) if day is None else day[order]
    net = net[order]
    unpriced = np.isnan(net)
    net[unpriced] = 0.0  # `net` is this function's own copy now
    new_day = new_customer.copy()
    new_day[1:] |= day[1:] != day[:-1]
    c_start = np.flatnonzero(new_customer)
    ids = customer[order[c_start]]
    del order
    d_start = np.flatnonzero(new_day)
    k = len(c_start)
    d_customer = np.cumsum(new_customer)[d_start] - 1  # customer index of each purchase day
    d_day = day[d_start]
    d_net = np.add.reduceat(net, d_start)
    c_end = np.append(c_start[1:], n) - 1
    first_day_index = np.searchsorted(d_start, c_start)  # a customer's first day starts with the customer
    recent = d_day > as_of_day - window
    previous = (d_day > as_of_day - 2 * window) & ~recent

    def per_customer(weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(d_customer, weights=weights, minlength=k)

    aggregates = {
        "n_days": per_customer().astype(np.int64),
        "n_orders": np.diff(np.append(c_start, n)).astype(np.int64),
        "n_unpriced": np.add.reduceat(unpriced.astype(np.int64), c_start),
        "first_day": day[c_start],
        "last_day": day[c_end],
        "first_at": at[c_start],
        "last_at": at[c_end],
        "total": np.add.reduceat(net, c_start),
        "first_spend": d_net[first_day_index],
        "spend_12m": per_customer(np.where(d_day > as_of_day - 365, d_net, 0.0)),
        "days_recent": per_customer(recent.astype(np.float64)).astype(np.int64),
        "days_prev": per_customer(previous.astype(np.float64)).astype(np.int64),
        "spend_recent": per_customer(np.where(recent, d_net, 0.0)),
        "spend_prev": per_customer(np.where(previous, d_net, 0.0)),
    }
    return ids, aggregates


async def read_summaries(
    conn: asyncpg.Connection,
    as_of: datetime,
    *,
    trend_window_days: int,
    customers: Sequence[uuid.UUID] | None = None,
    earlier: datetime | None = None,
    tenant: Tenant | None = None,
    helper: asyncpg.Connection | None = None,
) -> Summaries:
    """Summaries of every customer (customers=None) or of the given ones, as of `as_of`. With `earlier`, the
    buyers' summaries as of that date too (`.earlier`), from the same read: the orders placed by then, as they
    stand at `as_of` (an order cancelled since is left out of both). `tenant`: the currency and zone (default:
    the tenant rule set in force). `helper`: a second connection in the same snapshot (`share_snapshot`) that
    reads half of the whole base's orders meanwhile."""
    tenant = tenant or await _tenant(conn)
    args: list[object] = [as_of]
    order_filter = customer_filter = ""
    if customers is not None:
        args.append(list(customers))
        order_filter = "AND p.customer_id = ANY($2::uuid[])"
        customer_filter = "AND k.customer_id = ANY($2::uuid[])"
    rates = await rate_table(conn, tenant.reporting_currency)
    expected = await _row_estimate(conn, "purchases") if customers is None else 0
    parts = [(conn, _ORDERS_SQL.format(filter=order_filter), args)]
    if helper is not None and customers is None:
        # Two halves by the ids' first bit (random ids: even halves), one backend each.
        parts = [
            (c, _ORDERS_SQL.format(filter=f"AND p.customer_id {op} '{HALF}'"), args)
            for c, op in ((conn, "<"), (helper, ">="))
        ]
    orders = await copy_out_parts(parts, _ORDER_COLUMNS, expected_rows=expected)
    orders["at"] = unix_seconds(orders["at"])
    local = local_epochs(orders["at"], tenant.time_zone)
    cents, currency = orders["net"], rates.codes(orders.pop("currency"))
    orders["net"] = rates.convert(cents / 100.0, currency, np.floor(local / SECONDS_PER_DAY))
    del cents, currency
    expected = await _row_estimate(conn, "known_customers") if customers is None else 0
    known = await copy_out(
        conn, _CUSTOMERS_SQL.format(filter=customer_filter), _CUSTOMER_COLUMNS, *args, expected_rows=expected
    )
    # Both splits aggregated before either is assembled, so the orders (~330 MB at 10M) are gone by then.
    local_days = None if tenant.time_zone == "UTC" else local  # UTC: the same numbers
    as_of_day = day_number(as_of, tenant.time_zone)
    bought = aggregate(orders["customer_id"], orders["at"], orders["net"], as_of_day, trend_window_days, local_days)
    bought_then = None
    if earlier is not None:
        by_then = orders["at"] <= earlier.timestamp()
        then_day = day_number(earlier, tenant.time_zone)
        bought_then = aggregate(
            orders["customer_id"], orders["at"], orders["net"], then_day, trend_window_days, local_days, by_then
        )
    del orders, local, local_days
    before = None if earlier is None or bought_then is None else _assemble(*bought_then, None, earlier, tenant)
    return _assemble(*bought, known, as_of, tenant, before)


async def share_snapshot(conn: asyncpg.Connection, helper: asyncpg.Connection) -> None:
    """Make `helper`'s transaction see exactly what `conn`'s does: both REPEATABLE READ, `helper`'s with nothing
    run in it yet."""
    snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
    await helper.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")


async def _row_estimate(conn: asyncpg.Connection, table: str) -> int:
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
) -> Summaries:
    """The buyers' aggregates (`aggregate`) joined with the known customers' attributes (`known` None: buyers
    only)."""
    as_of_day = day_number(as_of, tenant.time_zone)
    # Everyone = the buyers, plus the known customers (prospects only if known by as_of), in id order.
    # As 16-byte strings, ids sort and search like their bytes (all the same length, so NumPy's
    # trailing-NUL padding rule never makes two different ids equal).
    buyer_keys = np.ascontiguousarray(buyers).view("S16")
    known_keys = np.ascontiguousarray(known["customer_id"]).view("S16") if known is not None else buyer_keys[:0]
    prospects = known_keys[known["prospect"]] if known is not None else known_keys
    keys = np.unique(np.concatenate([buyer_keys, prospects]))
    n = len(keys)
    ids = keys.view("V16")
    where = np.searchsorted(keys, buyer_keys)
    columns: dict[str, np.ndarray] = {"customer_id": ids}
    for name in INT_FIELDS:
        columns[name] = np.zeros(n, dtype=np.int64)
    for name in FLOAT_FIELDS:
        columns[name] = np.full(n, np.nan if name.endswith("_at") else 0.0)
    for name, values in agg.items():
        columns[name][where] = values
    columns["payment_terms"] = np.zeros(n, dtype=np.int16)
    columns["brand_contribution"] = np.zeros(n, dtype=np.int16)
    columns["declared_budget"] = np.full(n, np.nan)
    columns["share_of_wallet"] = np.full(n, np.nan)
    if known is not None:
        at = np.minimum(np.searchsorted(keys, known_keys), max(n - 1, 0))
        hit = (keys[at] == known_keys) if n else np.zeros(len(known_keys), dtype=bool)
        for name in ("payment_terms", "brand_contribution", "declared_budget", "share_of_wallet"):
            columns[name][at[hit]] = known[name][hit]
    return Summaries(columns, as_of, as_of_day, earlier, tenant)
