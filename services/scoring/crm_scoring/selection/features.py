"""The classifier's features: per customer, from the purchase summaries as of a date.

Only features whose meaning does not drift as a base ages are used (recency, counts per month of tenure,
gaps, recent against earlier activity, spend per order): the classifier is trained on the customers as they
were `horizon` days ago and applied to them as they are now, and a feature like raw tenure or lifetime total
grows for everyone between the two and would mislead it. On the CDNOW history (one cohort) adding tenure,
lifetime total and 12-month spend lowered the holdout AUC slightly.
"""

from __future__ import annotations

import numpy as np

from ..compute.summary import DAYS_PER_MONTH, Summaries

FEATURES = (
    "recency_days",
    "purchase_days",
    "mean_gap_days",
    "recency_over_mean_gap",
    "recency_share_of_tenure",
    "purchase_days_per_month",
    "days_recent_window",
    "days_previous_window",
    "spend_per_order",
)


def features(s: Summaries, rows: np.ndarray | None = None) -> np.ndarray:
    """(customers x FEATURES) float matrix; NaN where undefined (the classifier handles missing values).
    `rows`: only those customers' (positions), in that order: a batch trains on a sample and judges another,
    and the whole base's matrix and its row copies were ~250 MB at 1M, the batch's peak of memory."""

    def column(name: str) -> np.ndarray:
        return s[name] if rows is None else s[name][rows]

    n_days = column("n_days").astype(np.float64)
    first, last = column("first_day").astype(np.float64), column("last_day").astype(np.float64)
    n_orders = column("n_orders")
    recency = s.as_of_day - last
    tenure = np.maximum(s.as_of_day - first, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(n_days > 1, (last - first) / np.maximum(n_days - 1, 1), np.nan)
        per_order = np.where(n_orders > 0, column("total") / n_orders, np.nan)
        columns = (
            recency,
            n_days,
            gap,
            recency / gap,
            recency / tenure,
            n_days / (tenure / DAYS_PER_MONTH),
            column("days_recent").astype(np.float64),
            column("days_prev").astype(np.float64),
            per_order,
        )
    out = np.column_stack(columns)
    out[n_days == 0] = np.nan
    return out
