"""Calibration/holdout check of the churn signal and of predicted purchase counts on simulated data.

The churn signal is MBG/NBD's 1 - P(alive). BG/NBD cannot be the signal: its P(alive) is 1 for every customer
with no repeat purchase, so its churn risk does not rank one-time buyers at all (AUC ~0.54 here, below
days-since-last-purchase at ~0.83), while MBG/NBD's churn risk reaches ~0.86 because it combines recency with
frequency and lets one-time buyers drop out.
"""

import numpy as np
from scipy.stats import rankdata

from crm_scoring.clv import bgnbd, mbgnbd
from crm_scoring.clv.simulate import simulate_mbgnbd
from crm_scoring.clv.value import churn_risk

N = 20_000
TRUE = (0.8, 4.0, 0.8, 2.5)
HOLDOUT = 52.0


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney AUC: P(score of a positive > score of a negative), ties counted half (mid-ranks)."""
    ranks = rankdata(score)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _simulated():
    rng = np.random.default_rng(2024)
    # first purchases during the first 12 weeks of a 52-week calibration period
    return simulate_mbgnbd(N, TRUE, rng.uniform(40.0, 52.0, N), holdout=HOLDOUT, seed=rng)


def test_auc_helper() -> None:
    assert auc(np.array([0.1, 0.2, 0.3, 0.4]), np.array([False, False, True, True])) == 1.0
    assert auc(np.array([1.0, 1.0]), np.array([False, True])) == 0.5


def test_mbgnbd_churn_risk_ranks_holdout_non_buyers_at_least_as_well_as_recency() -> None:
    sim = _simulated()
    no_purchase = sim.holdout == 0
    fit = mbgnbd.fit(sim.x, sim.t_x, sim.T)
    risk = churn_risk(fit, sim.x, sim.t_x, sim.T)
    days_since_last = (sim.T - sim.t_x) * 7
    assert auc(risk, no_purchase) >= auc(days_since_last, no_purchase)
    # P(no purchase in the holdout) is the model's direct answer to the same question and ranks even better.
    p_none = mbgnbd.p_no_purchase(fit.values(), HOLDOUT, sim.x, sim.t_x, sim.T)
    assert auc(p_none, no_purchase) >= auc(risk, no_purchase)


def test_bgnbd_p_alive_cannot_rank_one_time_buyers() -> None:
    sim = _simulated()
    no_purchase = sim.holdout == 0
    fit = bgnbd.fit(sim.x, sim.t_x, sim.T)
    risk = churn_risk(fit, sim.x, sim.t_x, sim.T)
    assert np.all(risk[sim.x == 0] == 0.0)
    assert auc(risk, no_purchase) < auc(sim.T - sim.t_x, no_purchase)


def test_predicted_holdout_purchases_within_10_percent() -> None:
    sim = _simulated()
    fit = mbgnbd.fit(sim.x, sim.t_x, sim.T)
    predicted = mbgnbd.conditional_expected_purchases(fit.values(), HOLDOUT, sim.x, sim.t_x, sim.T).sum()
    actual = sim.holdout.sum()
    assert abs(predicted - actual) <= 0.10 * actual
