"""Transaction summaries, grouping and the CLV arithmetic."""

import numpy as np
import pytest

from crm_scoring.clv import bgnbd, gammagamma, mbgnbd
from crm_scoring.clv.summary import from_transactions, group
from crm_scoring.clv.value import FitResult, clv, score_customers


def test_from_transactions_counts_purchase_days() -> None:
    # times in weeks, unit_days = 7; customer 0 buys twice on day 0 and once on day 14; customer 1 once.
    customer = [0, 0, 0, 1]
    time = [0.0, 0.5 / 7, 2.0, 1.0]
    amount = [10.0, 5.0, 30.0, 8.0]
    s = from_transactions(customer, time, now=4.0, unit_days=7.0, amount=amount)
    np.testing.assert_allclose(s.x, [1, 0])
    np.testing.assert_allclose(s.t_x, [2.0, 0.0])
    np.testing.assert_allclose(s.T, [4.0, 3.0])
    assert s.m_x is not None
    assert s.m_x[0] == 30.0  # first purchase day (10 + 5) is excluded from repeat spend
    assert np.isnan(s.m_x[1])


def test_group_round_trips() -> None:
    x = np.array([0, 1, 0, 1, 0])
    t_x = np.array([0, 2, 0, 2, 0.0])
    T = np.array([5, 5, 5, 5, 6.0])
    rows, weights, inverse = group(x, t_x, T)
    assert len(rows) == 3
    assert weights.sum() == 5
    np.testing.assert_array_equal(rows[inverse], np.stack([x, t_x, T], axis=1))


def _fit(model: str, params: dict[str, float]) -> FitResult:
    return FitResult(model, params, 0.0, True, 0, 0, 0)


BG = _fit("bgnbd", {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})


def test_clv_is_discounted_sum_of_period_increments() -> None:
    x, t_x, T, spend = np.array([2.0]), np.array([30.43]), np.array([38.86]), np.array([40.0])
    period, rate = 4.0, 0.12
    value = clv(BG, x, t_x, T, spend, horizon_periods=3, period_length=period, annual_discount_rate=rate, margin=0.5)
    d = 1.12 ** (1 / 12) - 1
    cum = [bgnbd.conditional_expected_purchases(BG.values(), k * period, x, t_x, T)[0] for k in (0, 1, 2, 3)]
    want = 0.5 * 40.0 * sum((cum[k] - cum[k - 1]) / (1 + d) ** k for k in (1, 2, 3))
    assert value[0] == pytest.approx(want, rel=1e-12)
    # Without discounting CLV is margin * spend * expected purchases over the horizon.
    flat = clv(BG, x, t_x, T, spend, horizon_periods=3, period_length=period, annual_discount_rate=0.0, margin=0.5)
    assert flat[0] == pytest.approx(0.5 * 40.0 * cum[3], rel=1e-12)


def test_score_customers_outputs() -> None:
    mbg = _fit("mbgnbd", {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614})
    gg = _fit("gammagamma", {"p": 6.25, "q": 3.74, "gamma": 15.44})
    x, t_x, T = np.array([0.0, 3.0]), np.array([0.0, 20.0]), np.array([30.0, 30.0])
    m_x = np.array([np.nan, 50.0])
    out = score_customers(mbg, gg, x, t_x, T, m_x)
    assert set(out.expected_purchases) == {90.0, 365.0}
    assert np.all(out.expected_purchases[365.0] > out.expected_purchases[90.0])
    np.testing.assert_allclose(out.churn_risk, 1 - mbgnbd.p_alive(mbg.values(), x, t_x, T))
    assert out.expected_spend[0] == pytest.approx(gammagamma.population_mean_spend(gg.values()))
    assert 35.2 < out.expected_spend[1] < 50.0  # shrunk from 50 towards the population mean
    assert np.all(out.clv > 0)


def test_unknown_purchase_model_rejected() -> None:
    with pytest.raises(ValueError, match="not a purchase model"):
        clv(_fit("gammagamma", {}), [0], [0], [1], [1.0])
