"""AUC and DeLong's paired difference of two AUCs, checked against brute force and against the spread of the
difference over many samples drawn from a known binormal model."""

from __future__ import annotations

import numpy as np
import pytest

from crm_scoring.selection.ranking import auc, auc_difference, rankdata


def _brute_auc(score: np.ndarray, positive: np.ndarray) -> float:
    pos, neg = score[positive], score[~positive]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (pos.size * neg.size))


def _draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two correlated scores of one outcome: a shared latent signal plus each score's own noise; b is the
    noisier one, so AUC(a) > AUC(b)."""
    positive = rng.random(n) < 0.3
    latent = rng.normal(size=n) + 1.0 * positive
    a = latent + rng.normal(scale=0.5, size=n)
    b = latent + rng.normal(scale=1.0, size=n)
    return a, b, positive


def test_the_difference_is_of_the_two_aucs_with_ties_counted_half() -> None:
    rng = np.random.default_rng(7)
    positive = rng.random(300) < 0.4
    a = rng.integers(0, 5, 300).astype(float) + positive  # many ties
    b = rng.normal(size=300) + 0.5 * positive
    diff = auc_difference(a, b, positive)
    assert diff is not None
    assert auc(a, positive) == pytest.approx(_brute_auc(a, positive))
    assert diff.difference == pytest.approx(_brute_auc(a, positive) - _brute_auc(b, positive))


def test_the_standard_error_matches_the_spread_over_repeated_samples() -> None:
    rng = np.random.default_rng(11)
    diffs, ses = [], []
    for _ in range(400):
        a, b, positive = _draw(rng, 600)
        d = auc_difference(a, b, positive)
        assert d is not None
        diffs.append(d.difference)
        ses.append(d.se)
    spread = float(np.std(diffs, ddof=1))
    assert float(np.mean(ses)) == pytest.approx(spread, rel=0.12)
    # Paired: far tighter than the two AUCs' own errors would suggest if they were independent.
    own = np.sqrt(2) * np.std([auc(*_draw(rng, 600)[::2]) for _ in range(100)])
    assert spread < 0.7 * own


def test_identical_scores_differ_by_nothing_and_one_outcome_gives_none() -> None:
    rng = np.random.default_rng(3)
    a, _, positive = _draw(rng, 200)
    same = auc_difference(a, a.copy(), positive)
    assert same is not None
    assert (same.difference, same.se, same.z) == (0.0, 0.0, 0.0)
    assert auc_difference(a, a, np.zeros(200, dtype=bool)) is None
    with_nan = a.copy()
    with_nan[:10] = np.nan  # rows either score lacks are left out of both
    d = auc_difference(with_nan, a, positive)
    assert d is not None
    assert d.difference == pytest.approx(auc(a[10:], positive[10:]) - auc(a[10:], positive[10:]))


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(3).normal(size=5_000),
        np.random.default_rng(4).integers(0, 30, 5_000).astype(float),  # many ties
        np.round(np.random.default_rng(5).gamma(1.0, 1.0, 5_000), 2),
        np.array([-0.0, 0.0, 1.0, -np.inf, np.inf, 1.0]),
        np.array([2.5]),
        np.zeros(0),
    ],
    ids=["distinct", "ties", "rounded", "signed zeros and infinities", "one", "none"],
)
def test_ranks_are_scipys_average_ranks(values: np.ndarray) -> None:
    from scipy.stats import rankdata as scipy_rankdata

    assert np.array_equal(rankdata(values), scipy_rankdata(values))
