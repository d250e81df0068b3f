"""How well a score ranks an outcome, and whether one score ranks it better than another beyond chance."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata


def auc(score: np.ndarray, positive: np.ndarray) -> float | None:
    """Mann-Whitney AUC: P(score of a positive > score of a negative), ties counted half; None without both
    outcomes. Rows with a non-finite score are left out."""
    ok = np.isfinite(score)
    score, positive = score[ok], positive[ok]
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@dataclass(frozen=True)
class Difference:
    """AUC(a) - AUC(b) on the same rows, with DeLong's standard error of the difference."""

    difference: float
    se: float

    @property
    def z(self) -> float:
        if self.se > 0:
            return self.difference / self.se
        return math.copysign(math.inf, self.difference) if self.difference else 0.0


def auc_difference(a: np.ndarray, b: np.ndarray, positive: np.ndarray) -> Difference | None:
    """DeLong, DeLong & Clarke-Pearson (1988) for two correlated AUCs, computed from midranks as in Sun & Xu
    (2014): each positive's and each negative's share of the AUC (the structural components) per score; their
    covariances give the variance of the paired difference. Two signals of one history are strongly correlated,
    so the paired error is far smaller than either AUC's own. None without both outcomes."""
    ok = np.isfinite(a) & np.isfinite(b)
    pos = positive[ok]
    m = int(pos.sum())
    n = pos.size - m
    if m < 2 or n < 2:
        return None
    v10, v01 = [], []
    for score in (a[ok], b[ok]):
        x, y = score[pos], score[~pos]
        rank_all = rankdata(score)
        v10.append((rank_all[pos] - rankdata(x)) / n)  # per positive: share of negatives it outranks
        v01.append(1.0 - (rank_all[~pos] - rankdata(y)) / m)  # per negative: share of positives above it
    aucs = [float(v.mean()) for v in v10]
    s10, s01 = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))
    variance = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    return Difference(aucs[0] - aucs[1], math.sqrt(max(float(variance), 0.0)))
