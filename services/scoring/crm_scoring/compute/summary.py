"""Per-customer purchase summaries as of a date, aggregated in PostgreSQL and read as NumPy arrays.

One pass over `purchases`: orders up to `as_of` that were not cancelled by then, net of refunds made by
then, collapsed to purchase days (several orders on one day are one purchase occasion for the models),
then to one row per customer with the windows the trends need. Known customers without a purchase are
included (they are prospects: introduction stage).
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
PAYMENT_TERMS = ("prepaid", "cash", "on_time", "on_account")  # code = index + 1; 0 = unknown
BRAND_CONTRIBUTIONS = ("none", "public_figure", "senior_position")
# day * _KEY + cents: the smallest key of a customer is its first purchase day and that day's spend, so the
# first day's spend (which Gamma-Gamma leaves out) comes from the same single aggregation pass.
_KEY = 100_000_000_000

COLUMNS: tuple[tuple[str, str], ...] = (
    ("customer_id", "uuid"),
    ("n_days", "int4"),
    ("n_orders", "int4"),
    ("first_day", "int4"),
    ("last_day", "int4"),
    ("first_at", "float8"),
    ("last_at", "float8"),
    ("total", "float8"),
    ("first_key", "int8"),
    ("spend_12m", "float8"),
    ("days_recent", "int4"),
    ("days_prev", "int4"),
    ("spend_recent", "float8"),
    ("spend_prev", "float8"),
    ("payment_terms", "int2"),
    ("brand_contribution", "int2"),
    ("declared_budget", "float8"),
    ("share_of_wallet", "float8"),
)


def _codes(column: str, vocabulary: Sequence[str]) -> str:
    whens = " ".join(f"WHEN '{v}' THEN {i + 1}" for i, v in enumerate(vocabulary))
    return f"(CASE k.{column} {whens} ELSE 0 END)::int2"


SQL = f"""
WITH d AS (
    SELECT p.customer_id,
           (p.ordered_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01' AS day,
           count(*) AS orders,
           min(p.ordered_at) AS first_at,
           max(p.ordered_at) AS last_at,
           sum(p.amount - CASE WHEN p.refunded_at <= $1::timestamptz THEN p.refunded_amount ELSE 0 END) AS net
    FROM purchases p
    WHERE p.ordered_at <= $1::timestamptz
      AND (p.cancelled_at IS NULL OR p.cancelled_at > $1::timestamptz) {{purchase_filter}}
    GROUP BY 1, 2
), c AS (
    SELECT customer_id,
           count(*)::int4 AS n_days,
           sum(orders)::int4 AS n_orders,
           min(day)::int4 AS first_day,
           max(day)::int4 AS last_day,
           extract(epoch FROM min(first_at))::float8 AS first_at,
           extract(epoch FROM max(last_at))::float8 AS last_at,
           sum(net)::float8 AS total,
           min(day::int8 * {_KEY} + round(net * 100)::int8) AS first_key,
           coalesce(sum(net) FILTER (WHERE day > $2::int - 365), 0)::float8 AS spend_12m,
           (count(*) FILTER (WHERE day > $2::int - $3::int))::int4 AS days_recent,
           (count(*) FILTER (WHERE day > $2::int - 2 * $3::int AND day <= $2::int - $3::int))::int4 AS days_prev,
           coalesce(sum(net) FILTER (WHERE day > $2::int - $3::int), 0)::float8 AS spend_recent,
           coalesce(sum(net) FILTER (WHERE day > $2::int - 2 * $3::int AND day <= $2::int - $3::int), 0)::float8
               AS spend_prev
    FROM d GROUP BY customer_id
)
SELECT coalesce(c.customer_id, k.customer_id),
       coalesce(c.n_days, 0), coalesce(c.n_orders, 0), coalesce(c.first_day, 0), coalesce(c.last_day, 0),
       coalesce(c.first_at, 'NaN'), coalesce(c.last_at, 'NaN'), coalesce(c.total, 0),
       coalesce(c.first_key, 0), coalesce(c.spend_12m, 0),
       coalesce(c.days_recent, 0), coalesce(c.days_prev, 0), coalesce(c.spend_recent, 0), coalesce(c.spend_prev, 0),
       {_codes("payment_terms", PAYMENT_TERMS)},
       {_codes("brand_contribution", BRAND_CONTRIBUTIONS)},
       coalesce(k.declared_budget::float8, 'NaN'), coalesce(k.share_of_wallet::float8, 'NaN')
FROM c FULL JOIN known_customers k ON k.customer_id = c.customer_id
WHERE coalesce(k.merged_into IS NULL, true)
  AND (c.customer_id IS NOT NULL OR k.created_at <= $1::timestamptz) {{customer_filter}}
"""


@dataclass(frozen=True)
class Summaries:
    """Column arrays of the summaries (see COLUMNS), the as-of instant and its day number."""

    rows: np.ndarray
    as_of: datetime
    as_of_day: int

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, column: str) -> np.ndarray:
        return self.rows[column]

    def first_day_spend(self) -> np.ndarray:
        key = self.rows["first_key"].astype(np.int64)
        return (key - self.rows["first_day"].astype(np.int64) * _KEY) / 100.0

    def customer_ids(self) -> list[uuid.UUID]:
        raw = self.rows["customer_id"].tobytes()
        return [uuid.UUID(bytes=raw[i : i + 16]) for i in range(0, len(raw), 16)]


def day_number(instant: datetime) -> int:
    return (instant.astimezone(UTC).date() - EPOCH).days


async def read_summaries(
    conn: asyncpg.Connection, as_of: datetime, *, trend_window_days: int, customers: Sequence[uuid.UUID] | None = None
) -> Summaries:
    """Summaries of every customer (customers=None) or of the given ones, as of `as_of`."""
    args: list[object] = [as_of, day_number(as_of), trend_window_days]
    purchase_filter = customer_filter = ""
    if customers is not None:
        args.append(list(customers))
        purchase_filter = "AND p.customer_id = ANY($4::uuid[])"
        customer_filter = "AND coalesce(c.customer_id, k.customer_id) = ANY($4::uuid[])"
    query = SQL.format(purchase_filter=purchase_filter, customer_filter=customer_filter)
    rows = await copy_out(conn, query, COLUMNS, *args)
    return Summaries(rows, as_of, day_number(as_of))
