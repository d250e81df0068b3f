"""Monthly membership points: one row per customer and month, points = that month's composite score."""

import datetime as dt
import math

import numpy as np
import pytest

from crm_scoring.value.ledger import LedgerRow, monthly_points


def test_monthly_points_rows() -> None:
    rows = monthly_points(np.array([32.5, 71.004, math.nan, 0.0]), dt.date(2024, 5, 17))
    first = dt.date(2024, 5, 1)
    assert rows == [LedgerRow(0, first, 32.5), LedgerRow(1, first, 71.0), LedgerRow(3, first, 0.0)]


def test_monthly_points_with_ids_and_datetime() -> None:
    rows = monthly_points([1.235, 2.0], dt.datetime(2024, 12, 31, 23, 59), customer_ids=[101, 205])
    assert [(r.customer, r.month, r.points) for r in rows] == [
        (101, dt.date(2024, 12, 1), 1.24),
        (205, dt.date(2024, 12, 1), 2.0),
    ]
    with pytest.raises(ValueError):
        monthly_points([1.0], dt.date(2024, 1, 1), customer_ids=[1, 2])
