"""From purchase summaries to the models' (x, t_x, T, m_x) in the configured time unit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .summary import Summaries


@dataclass(frozen=True)
class ModelInputs:
    has_purchase: np.ndarray  # bool: at least one purchase day
    x: np.ndarray  # repeat purchase days
    t_x: np.ndarray
    T: np.ndarray
    m_x: np.ndarray  # mean net spend of the repeat purchase days (NaN without repeats)


def model_inputs(s: Summaries, unit_days: float) -> ModelInputs:
    n_days = s["n_days"].astype(np.float64)
    has = n_days > 0
    first = s["first_day"].astype(np.float64)
    last = s["last_day"].astype(np.float64)
    x = np.where(has, n_days - 1, 0.0)
    t_x = np.where(x > 0, (last - first) / unit_days, 0.0)
    T = np.where(has, (s.as_of_day - first) / unit_days, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Unknown when some order had no rate to the reporting currency: the spend model leaves the customer out.
        m_x = np.where((x > 0) & (s["n_unpriced"] == 0), (s["total"] - s["first_spend"]) / x, np.nan)
    return ModelInputs(has, x, t_x, T, m_x)


def sample(mi: ModelInputs, size: int, seed: int = 0) -> ModelInputs:
    """At most `size` buyers drawn at random (a fit's four parameters are estimated as well from a few hundred
    thousand customers as from millions, at a fraction of the cost)."""
    buyers = np.flatnonzero(mi.has_purchase)
    if len(buyers) <= size:
        return mi
    keep = np.sort(np.random.default_rng(seed).choice(buyers, size, replace=False))
    return ModelInputs(mi.has_purchase[keep], mi.x[keep], mi.t_x[keep], mi.T[keep], mi.m_x[keep])
