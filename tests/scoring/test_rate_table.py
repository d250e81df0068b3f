"""RateTable's per-order lookups (currency_rates/convert.py) on arrays: the one-currency shortcut gives what
the general lookup gives."""

from __future__ import annotations

import numpy as np
import pytest

from crm_scoring.currency_rates.convert import RateTable

RATES = RateTable(
    ["EUR", "USD", "JPY"],
    [np.zeros(0, np.int64), np.array([100, 200], np.int64), np.array([150], np.int64)],
    [np.zeros(0), np.array([0.9, 0.8]), np.array([0.006])],
)


def _general(currency: np.ndarray) -> np.ndarray:
    """Each order's code looked up one by one."""
    codes = {c.encode(): k + 1 for k, c in enumerate(RATES.currencies)}
    return np.array([codes.get(c, 0) for c in currency.tolist()], dtype=np.int16)


@pytest.mark.parametrize(
    "currency",
    [
        ["EUR"] * 5,
        ["USD"] * 4,
        ["GBP"] * 3,  # no rates: code 0
        ["EUR", "USD", "JPY", "GBP", "USD"],
        ["JPY"],
        [],
    ],
    ids=["reporting only", "one foreign", "one without rates", "mixed", "one order", "none"],
)
def test_codes_are_each_orders_currency(currency: list[str]) -> None:
    values = np.array([c.encode() for c in currency], dtype="S3")
    codes = RATES.codes(values)
    assert codes.dtype == np.int16
    assert np.array_equal(codes, _general(values))


def test_conversion_of_one_currency_or_several() -> None:
    net = np.array([10.0, 20.0, 30.0])
    own = RATES.convert(net.copy(), np.array([1, 1, 1], np.int16), np.array([50.0, 150.0, 250.0]))
    assert np.array_equal(own, net)  # the reporting currency: as it is
    mixed = RATES.convert(net.copy(), np.array([1, 2, 3], np.int16), np.array([50.0, 150.0, 160.0]))
    assert np.allclose(mixed, [10.0, 18.0, 0.18])  # EUR as is, USD at 0.9 (day 150), JPY at 0.006
    early = RATES.convert(net.copy(), np.array([2, 3, 0], np.int16), np.array([50.0, 100.0, 300.0]))
    assert np.isnan(early).all()  # before each currency's first rate; a currency without rates
