"""The statistics of a campaign's result: per-group conversion rates, the absolute uplift of treatment
over control with a 95% two-proportion normal (Wald, unpooled) interval, and a sample-ratio-mismatch
chi-square test of the observed split against the configured one.

uplift = p_t - p_c,  se = sqrt(p_t (1 - p_t) / n_t + p_c (1 - p_c) / n_c),  CI = uplift +- z_0.975 se."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

Z_95 = float(stats.norm.ppf(0.975))  # 1.959964...
# A sample ratio mismatch this unlikely under the configured split means the assignment or the data is
# broken (the customary threshold: a p-value below 0.001).
SRM_ALPHA = 0.001


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    standard_error: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


def uplift_interval(x_t: int, n_t: int, x_c: int, n_c: int, z: float = Z_95) -> Interval | None:
    """The difference of two proportions (treatment minus control) with its normal interval; None when a
    group is empty."""
    if n_t == 0 or n_c == 0:
        return None
    p_t, p_c = x_t / n_t, x_c / n_c
    se = math.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
    diff = p_t - p_c
    return Interval(diff, diff - z * se, diff + z * se, se)


@dataclass(frozen=True)
class SampleRatio:
    expected_control_share: float
    observed_control_share: float | None
    chi_square: float | None
    p_value: float | None

    @property
    def mismatch(self) -> bool:
        return self.p_value is not None and self.p_value < SRM_ALPHA


def sample_ratio(treatment: int, control: int, control_share: float) -> SampleRatio:
    """Chi-square goodness of fit of (treatment, control) against (1 - share, share)."""
    total = treatment + control
    if total == 0 or control_share <= 0:
        return SampleRatio(control_share, None, None, None)
    expected = [total * (1 - control_share), total * control_share]
    result = stats.chisquare([treatment, control], f_exp=expected)
    return SampleRatio(control_share, control / total, float(result.statistic), float(result.pvalue))
