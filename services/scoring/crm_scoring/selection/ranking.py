"""How well a score ranks an outcome."""

from __future__ import annotations

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
