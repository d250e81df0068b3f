"""ABC classes by cumulative revenue share, the gold and drag flags, and a Pareto curve for charts.

ABC rule: customers are sorted by revenue, largest first, and a customer's class is decided by the cumulative
revenue share of everyone ranked *before* it:
  share_before < a        -> A   (so the customer whose revenue crosses the 80% line is still A)
  share_before < a + b    -> B
  otherwise               -> C
Reaching a threshold exactly counts as reached: if the customers before you hold exactly 80%, you are B.
Ties: customers with equal revenue always get the same class, the class of the first of them in the order
(so a tie straddling the line is all A). Negative revenue (net refunds) counts as 0; zero revenue is always C.
"""

import math
from dataclasses import dataclass
from typing import TypeGuard

import numpy as np
import numpy.typing as npt

from crm_scoring.value.errors import FormulaError

# Float cumulative sums drift by a few ulps; comparisons use this relative slack so "exactly 80%" is stable.
_REL_EPS = 1e-9


# Rules arrive from stored JSON: a value typed float may still be a bool, a string or None at run time.
def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class AbcThresholds:
    """A = first ``a`` of revenue, B = next ``b``, C = the rest. Validated: 0 < a, 0 < b, a + b < 1."""

    a: float = 0.80
    b: float = 0.15

    def __post_init__(self) -> None:
        for field, v in (("a", self.a), ("b", self.b)):
            if not _is_number(v) or not math.isfinite(v) or v <= 0:
                raise FormulaError("abc", f"must be a number > 0, got {v!r}", field)
        if self.a + self.b >= 1:
            raise FormulaError("abc", f"a + b must be < 1, got {self.a} + {self.b}", "b")


def _sorted_desc(revenue: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    rev = np.nan_to_num(np.asarray(revenue, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    rev = np.maximum(rev, 0.0)
    # Not a stable sort: tied customers share a class and equal values sum alike in any order, so what is
    # made of the order never depends on where ties land (NumPy's default sort took 1/4 of the stable one's time).
    order = np.argsort(-rev)
    return rev, order


def abc_classes(revenue: npt.ArrayLike, thresholds: AbcThresholds | None = None) -> np.ndarray:
    """'A' / 'B' / 'C' per customer (dtype '<U1'), in input order."""
    th = thresholds or AbcThresholds()
    rev, order = _sorted_desc(revenue)
    out = np.full(rev.shape, "C", dtype="<U1")
    total = float(rev.sum())
    if total <= 0:
        return out
    srt = rev[order]
    before = np.cumsum(srt) - srt
    # Give every member of a tie group the "before" of the group's first member.
    first = np.ones(len(srt), dtype=bool)
    first[1:] = srt[1:] != srt[:-1]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(srt)), 0))
    before = before[group_start]
    slack = _REL_EPS * total
    cls = np.where(before < th.a * total - slack, "A", np.where(before < (th.a + th.b) * total - slack, "B", "C"))
    cls = np.where(srt > 0, cls, "C")
    out[order] = cls
    return out


def gold_flags(revenue_12m: npt.ArrayLike, share: float = 0.05) -> np.ndarray:
    """Top ``share`` of customers by last-12-months revenue.

    k = ceil(share * number of customers with revenue > 0); a customer is gold if its revenue is > 0 and at
    least the k-th largest revenue, so ties at the cut are all gold (the flag can exceed k, never fall short).
    """
    if not _is_number(share) or not 0 < share <= 1:
        raise FormulaError("gold", f"share must be in (0, 1], got {share!r}", "share")
    rev = np.nan_to_num(np.asarray(revenue_12m, dtype=np.float64), nan=0.0)
    positive = rev > 0
    n_pos = int(positive.sum())
    if n_pos == 0:
        return np.zeros(rev.shape, dtype=bool)
    # ceil on a float product: subtract a tiny slack so 0.05 * 100 = 5.000000000000001 does not become 6.
    k = max(1, math.ceil(share * n_pos - 1e-9))
    cut = np.partition(rev[positive], n_pos - k)[n_pos - k]
    return positive & (rev >= cut)


def drag_flags(
    days_since_last_order: npt.ArrayLike,
    revenue: npt.ArrayLike,
    cost: npt.ArrayLike | None = None,
    max_days: int = 365,
) -> np.ndarray:
    """Drag = last order more than ``max_days`` ago, or known cost above revenue.

    Customers who never ordered (NaN days) are not drag by recency: they are prospects, handled by the lifecycle
    stage. Unknown cost (None / NaN) never makes a customer drag.
    """
    if not _is_integer(max_days) or max_days < 0:
        raise FormulaError("drag", f"max_days must be an integer >= 0, got {max_days!r}", "max_days")
    days = np.asarray(days_since_last_order, dtype=np.float64)
    flag = np.isfinite(days) & (days > max_days)
    if cost is not None:
        c = np.asarray(cost, dtype=np.float64)
        rev = np.nan_to_num(np.asarray(revenue, dtype=np.float64), nan=0.0)
        flag |= np.isfinite(c) & (c > rev)
    return flag


def pareto_curve(revenue: npt.ArrayLike, points: int = 101) -> list[tuple[float, float]]:
    """``points`` evenly spaced (customer share, revenue share) pairs, largest customers first.

    The curve is piecewise linear between whole customers (share k/n has the top-k revenue share). With no
    customers or no revenue the revenue share is 0 throughout. Values are rounded to 6 decimals.
    """
    if not _is_integer(points) or points < 2:
        raise FormulaError("pareto", f"points must be an integer >= 2, got {points!r}", "points")
    rev, order = _sorted_desc(revenue)
    xs = np.linspace(0.0, 1.0, points)
    total = float(rev.sum())
    n = len(rev)
    if n == 0 or total <= 0:
        return [(round(float(x), 6), 0.0) for x in xs]
    cum = np.concatenate(([0.0], np.cumsum(rev[order]))) / total
    ys = np.interp(xs * n, np.arange(n + 1), cum)
    return [(round(float(x), 6), round(float(y), 6)) for x, y in zip(xs, ys, strict=True)]
