"""Monthly membership points (DOMAIN.md 2: a month's points equal that month's composite score).

Only the row shape lives here; persistence (one row per customer and month, idempotent per month) comes later.
"""

import datetime as dt
from typing import NamedTuple

import numpy as np
import numpy.typing as npt


class LedgerRow(NamedTuple):
    customer: int  # index into the scored batch, or the id from ``customer_ids``
    month: dt.date  # first day of the month
    points: float  # the month's composite score, rounded to 2 decimals


def first_of_month(month: dt.date) -> dt.date:
    """Normalise any date (or datetime) in a month to that month's first day."""
    return dt.date(month.year, month.month, 1)


def monthly_points(scores: npt.ArrayLike, month: dt.date, customer_ids: npt.ArrayLike | None = None) -> list[LedgerRow]:
    """One ledger row per scored customer; customers whose score is NaN (not scored) get no row."""
    pts = np.round(np.asarray(scores, dtype=np.float64), 2) + 0.0
    ids = np.arange(len(pts)) if customer_ids is None else np.asarray(customer_ids)
    if ids.shape != pts.shape:
        raise ValueError("customer_ids must have the same length as scores")
    keep = np.isfinite(pts)
    first = first_of_month(month)
    return [LedgerRow(int(c), first, float(p)) for c, p in zip(ids[keep].tolist(), pts[keep].tolist(), strict=True)]
