"""Lifecycle stages (DOMAIN.md 2) from purchase history and P(alive), with the rule that decided each.

Rules in priority order (thresholds from the `lifecycle` rule set); the first that holds wins:
  1 introduction  known customer, no purchase yet
  2 churned       no purchase for more than churned_days
  3 churned       P(alive) below churned_p_alive
  4 introduction  one purchase day so far
  5 decline       P(alive) below decline_p_alive
  6 decline       purchase frequency and spend trends both at or below decline_trend
  7 growth        up to growth_max_purchase_days purchase days
  8 growth        spend trend at or above growth_trend
  9 maturity      otherwise
The rule number is stored with the stage; the reason text is rendered from it and the customer's figures
(compute/reasons.py), so batch and incremental scoring explain a stage in the same words.
"""

from __future__ import annotations

import numpy as np

from ..rules.schemas import Lifecycle
from ..scores.models import STAGES

INTRODUCTION, GROWTH, MATURITY, DECLINE, CHURNED = range(5)
RULE_STAGE = {
    1: INTRODUCTION,
    2: CHURNED,
    3: CHURNED,
    4: INTRODUCTION,
    5: DECLINE,
    6: DECLINE,
    7: GROWTH,
    8: GROWTH,
    9: MATURITY,
}
assert STAGES[CHURNED] == "churned"


def stages(
    rules: Lifecycle,
    *,
    n_days: np.ndarray,
    recency_days: np.ndarray,
    p_alive: np.ndarray,
    frequency_trend: np.ndarray,
    spend_trend: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(stage index into STAGES, rule number) per customer; NaN inputs never satisfy a rule."""
    with np.errstate(invalid="ignore"):
        conditions = [
            n_days == 0,
            recency_days > rules.churned_days,
            p_alive < rules.churned_p_alive,
            n_days == 1,
            p_alive < rules.decline_p_alive,
            (frequency_trend <= rules.decline_trend) & (spend_trend <= rules.decline_trend),
            n_days <= rules.growth_max_purchase_days,
            spend_trend >= rules.growth_trend,
        ]
    rule = np.select(conditions, list(range(1, 9)), default=9).astype(np.int16)
    lookup = np.array([RULE_STAGE[i] for i in range(1, 10)], dtype=np.int16)
    return lookup[rule - 1], rule
