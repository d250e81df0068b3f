"""Per-customer purchase summaries as of a date, as NumPy arrays.

PostgreSQL only selects and nets: the orders placed up to `as_of` and not cancelled by then, each net of the
refunds made by then (each partial refund from its own time), streamed out by binary COPY (for the whole base,
a sequential scan: aggregating in SQL made the planner walk the customer index and read the heap at random).
NumPy then sorts them by customer and time and aggregates: purchase days (several orders on one day are one
purchase occasion for the models), first and last purchase, totals, the first day's spend (which Gamma-Gamma
leaves out), the last 12 months and the two trend windows. Known customers without a purchase are included
(prospects: introduction stage). The same code serves one customer (an event) and the whole base (a batch),
so both see the same figures.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import asyncpg
import numpy as np

from .binary_copy import copy_out

EPOCH = date(1970, 1, 1)
SECONDS_PER_DAY = 86_400
PAYMENT_TERMS = ("prepaid", "cash", "on_time", "on_account")  # code = index + 1; 0 = unknown
BRAND_CONTRIBUTIONS = ("none", "public_figure", "senior_position")

_ORDER_COLUMNS = (("customer_id", "uuid"), ("at", "float8"), ("net", "float8"))
# Net of the refunds made by $1: all of them when the latest was (nearly always), else the largest refunded
# total reached by then, from the refund history (looked up only for orders refunded again after $1).
_ORDERS_SQL = """
SELECT p.customer_id, extract(epoch FROM p.ordered_at)::float8,
       (p.amount - CASE WHEN p.refunded_amount = 0 THEN 0
                        WHEN p.refunded_at <= $1::timestamptz THEN p.refunded_amount
                        ELSE coalesce((SELECT max(r.refunded_total) FROM purchase_refunds r
                                       WHERE r.order_id = p.order_id AND r.refunded_at <= $1::timestamptz), 0)
                   END)::float8
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

INT_FIELDS = ("n_days", "n_orders", "first_day", "last_day", "days_recent", "days_prev")
FLOAT_FIELDS = ("first_at", "last_at", "total", "first_spend", "spend_12m", "spend_recent", "spend_prev")


@dataclass(frozen=True)
class Summaries:
    """Column arrays, one entry per customer: `customer_id` (16-byte records), the purchase aggregates
    (INT_FIELDS, FLOAT_FIELDS; zeros and NaN times without purchase) and the score attributes."""

    columns: dict[str, np.ndarray]
    as_of: datetime
    as_of_day: int

    def __len__(self) -> int:
        return len(self.columns["customer_id"])

    def __getitem__(self, column: str) -> np.ndarray:
        return self.columns[column]

    def customer_ids(self) -> list[uuid.UUID]:
        raw = self.columns["customer_id"].tobytes()
        return [uuid.UUID(bytes=raw[i : i + 16]) for i in range(0, len(raw), 16)]


def day_number(instant: datetime) -> int:
    return (instant.astimezone(UTC).date() - EPOCH).days


def _halves(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 16-byte id as two unsigned 64-bit halves: sortable, comparable, exact."""
    pairs = np.frombuffer(np.ascontiguousarray(ids).tobytes(), dtype=">u8").reshape(-1, 2)
    return pairs[:, 0].astype(np.uint64), pairs[:, 1].astype(np.uint64)


def aggregate(
    customer: np.ndarray, at: np.ndarray, net: np.ndarray, as_of_day: int, window: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Orders -> (distinct customer ids, per-customer aggregates), in customer id order."""
    if len(at) == 0:
        empty: dict[str, np.ndarray] = {name: np.zeros(0, dtype=np.int64) for name in INT_FIELDS}
        empty.update({name: np.zeros(0) for name in FLOAT_FIELDS})
        return np.ascontiguousarray(customer), empty
    hi, lo = _halves(customer)
    order = np.lexsort((at, lo, hi))
    hi, lo, at, net = hi[order], lo[order], at[order], net[order]
    day = np.floor(at / SECONDS_PER_DAY).astype(np.int64)
    n = len(at)
    new_customer = np.ones(n, dtype=bool)
    new_customer[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
    new_day = new_customer.copy()
    new_day[1:] |= day[1:] != day[:-1]
    c_start = np.flatnonzero(new_customer)
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
    ids = customer[order][c_start]
    return ids, aggregates


async def read_summaries(
    conn: asyncpg.Connection, as_of: datetime, *, trend_window_days: int, customers: Sequence[uuid.UUID] | None = None
) -> Summaries:
    """Summaries of every customer (customers=None) or of the given ones, as of `as_of`."""
    args: list[object] = [as_of]
    order_filter = customer_filter = ""
    if customers is not None:
        args.append(list(customers))
        order_filter = "AND p.customer_id = ANY($2::uuid[])"
        customer_filter = "AND k.customer_id = ANY($2::uuid[])"
    orders = await copy_out(conn, _ORDERS_SQL.format(filter=order_filter), _ORDER_COLUMNS, *args)
    known = await copy_out(conn, _CUSTOMERS_SQL.format(filter=customer_filter), _CUSTOMER_COLUMNS, *args)
    as_of_day = day_number(as_of)
    buyers, agg = aggregate(orders["customer_id"], orders["at"], orders["net"], as_of_day, trend_window_days)
    # Everyone = the buyers, plus the known customers (prospects only if known by as_of), in id order.
    # As 16-byte strings, ids sort and search like their bytes (all the same length, so NumPy's
    # trailing-NUL padding rule never makes two different ids equal).
    buyer_keys = np.ascontiguousarray(buyers).view("S16")
    known_keys = np.ascontiguousarray(known["customer_id"]).view("S16")
    keys = np.unique(np.concatenate([buyer_keys, known_keys[known["prospect"]]]))
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
    at = np.minimum(np.searchsorted(keys, known_keys), max(n - 1, 0))
    hit = (keys[at] == known_keys) if n else np.zeros(len(known_keys), dtype=bool)
    for name in ("payment_terms", "brand_contribution", "declared_budget", "share_of_wallet"):
        columns[name][at[hit]] = known[name][hit]
    return Summaries(columns, as_of, as_of_day)
