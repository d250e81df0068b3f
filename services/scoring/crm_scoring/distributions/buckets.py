"""Score buckets: customers counted per (measure, stage, abc_class, bucket) with the sums of the measured value
and of its square, so the Pareto curve (measure `spend`: total spend, net refunds as 0) and the CLV histogram
(measure `clv`) sum a few hundred rows instead of scanning every customer (issue 13).

Buckets are log-spaced, PER_DECADE to a decade: bucket k >= 1 holds the values in
[0.01 * RATIO ** (k - 1), 0.01 * RATIO ** k), bucket 0 holds exactly 0, bucket -k mirrors bucket k for negative
values, and a null value has a null bucket (a customer without a CLV). So the values of one bucket differ by
less than a factor RATIO (2.33%), which is the charts' stated tolerance. Cents below 0.43 each have their own
bucket. The SQL function `score_bucket(numeric)` (migration 0008) assigns them; `lower_edge` here is its
inverse.

Kept by PostgreSQL as the score cells are (cells.py): statement-level triggers on customer_scores (migration
0008, and the batch's swap on every table it swaps in) append signed delta rows, now and then folded into
one per bucket by `score_buckets_compact()`; the batch rebuilds them inside its swap transaction (kept.py)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Numeric, SmallInteger, String, Table

from ..base import Base
from .kept import Kept

PER_DECADE = 100
RATIO = 10 ** (1 / PER_DECADE)
MEASURES = {"clv": "clv", "spend": "greatest(total_spend, 0)"}  # measure -> its value in customer_scores
KEY = ("measure", "stage", "abc_class", "bucket")

score_buckets = Table(
    "score_buckets",
    Base.metadata,
    Column("measure", String(8), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("abc_class", String(1)),
    Column("bucket", SmallInteger),
    Column("n", BigInteger, nullable=False),
    Column("total", Numeric(20, 2), nullable=False),
    Column("squares", Numeric, nullable=False),  # exact, so a bucket of equal values is known to be one
)

# The buckets of a scores table, from scratch, one measure after the other (the same rows as the triggers' one
# pass over a LATERAL VALUES pair per customer, migration 0008, which took 1.57 s at 1M scores against 1.24 s).
BUCKETS_OF = " UNION ALL ".join(
    f"SELECT '{m}'::text AS measure, stage, abc_class, score_bucket({v}) AS bucket, count(*) AS n, "
    f"coalesce(sum({v}), 0) AS total, coalesce(sum({v} * {v}), 0) AS squares FROM {{table}} "
    f"GROUP BY stage, abc_class, score_bucket({v})"
    for m, v in MEASURES.items()
)
# The batch's swap carries them over (kept.py).
BUCKETS = Kept("score_buckets", KEY, ("n", "total", "squares"), BUCKETS_OF, weight=1.8)


def lower_edge(bucket: int) -> float:
    """The lowest value of a bucket >= 1 (bucket k's upper edge is lower_edge(k + 1))."""
    return float(RATIO ** (bucket - 1) / 100)
