"""Charts from the score buckets (buckets.py) instead of every customer's value, within a stated tolerance.

What is known of a bucket: its value interval (less than a factor RATIO, 2.33%, wide), its customer count and
the sum of their values. Hence:
- Pareto curve: customers of a bucket are taken as holding its mean, so the curve is exact at bucket edges and
  linear between them; the top customers' true spend within a bucket is at least the mean share and at most
  RATIO times it, so a point's revenue share is never above the exact one and at least the exact one / RATIO.
- CLV histogram and its default max: a bucket's n values are placed evenly about its mean with its variance
  (kept exactly: one or two customers, or equal values, come out exact), within the bucket's interval. A
  count below any edge is then exact except for the customers of the one bucket the edge falls in (CLVs
  within 2.33% of the edge), and an order statistic (the 99th percentile) lies in the bucket holding it:
  within one bucket's width of the exact one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import asyncpg
import numpy as np
import numpy.typing as npt

from .buckets import lower_edge


@dataclass(frozen=True)
class Bucketed:
    """One measure's customers as buckets in value order (customers without a value apart): per bucket the
    model's centre `mean`, its spacing `step` and the count `n`."""

    n: npt.NDArray[np.int64]
    total: npt.NDArray[np.float64]
    mean: npt.NDArray[np.float64]
    step: npt.NDArray[np.float64]
    unvalued: int

    @classmethod
    def of(cls, rows: Sequence[asyncpg.Record]) -> Bucketed:
        """From (bucket, n, total, squares) rows of one measure, in any order."""
        valued = sorted((r for r in rows if r["bucket"] is not None), key=lambda r: r["bucket"])
        b = np.array([r["bucket"] for r in valued], dtype=np.int64)
        n = np.array([r["n"] for r in valued], dtype=np.int64)
        total = np.array([float(r["total"]) for r in valued], dtype=np.float64)
        # The variance from the exact sums (Decimal): 0 exactly when a bucket's values are all equal.
        variance = np.array([float((r["squares"] - r["total"] ** 2 / r["n"]) / r["n"]) for r in valued])
        lo, hi = bounds(b)
        mean = total / np.maximum(n, 1)
        # n values spaced `step` apart have the variance step² (n² - 1) / 12; kept within the interval (the mean
        # of values in [lo, hi] lies in it too). Hence one or two customers, or equal values, are exact.
        spread = np.sqrt(12 * np.clip(variance, 0.0, None) / np.maximum(n * n - 1, 1))
        room = np.clip(np.minimum(mean - lo, hi - mean), 0.0, None)
        step = np.where(
            n > 1, np.minimum(spread, np.divide(2 * room, n - 1, where=n > 1, out=np.zeros_like(room))), 0.0
        )
        unvalued = sum(r["n"] for r in rows if r["bucket"] is None)
        return cls(n, total, mean, step, unvalued)

    @property
    def valued(self) -> int:
        return int(self.n.sum())

    def count_below(self, edge: float, *, inclusive: bool = False) -> int:
        """Customers whose (modelled) value is < edge, or <= edge when `inclusive`."""
        with np.errstate(divide="ignore", invalid="ignore"):
            # index of the first modelled value at or above (above, when inclusive) the edge
            at = (edge - self.mean) / self.step + (self.n - 1) / 2
            first = np.floor(at) + 1 if inclusive else np.ceil(at)
        flat = np.where((self.mean <= edge) if inclusive else (self.mean < edge), self.n, 0)
        counts = np.where(self.step > 0, np.clip(np.nan_to_num(first), 0, self.n), flat)
        return int(counts.sum())

    def order_statistic(self, rank: int) -> float:
        """The `rank`-th smallest modelled value (0-based, rank < valued)."""
        ends = np.cumsum(self.n)
        i = int(np.searchsorted(ends, rank, side="right"))
        j = rank - (int(ends[i]) - int(self.n[i]))
        return float(self.mean[i] + (j - (self.n[i] - 1) / 2) * self.step[i])

    def percentile(self, q: Decimal) -> float | None:
        """As percentile_cont(q) interpolates between the two order statistics around q (None: no value)."""
        if self.valued == 0:
            return None
        at = q * (self.valued - 1)
        k = int(at)
        low = self.order_statistic(k)
        if at == k:
            return low
        return low + float(at - k) * (self.order_statistic(k + 1) - low)


def bounds(b: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The value interval of each bucket (bucket 0 is exactly 0; -k mirrors k)."""
    edge = np.vectorize(lower_edge, otypes=[np.float64])
    k = np.abs(b)
    low = np.where(k > 0, edge(np.maximum(k, 1)), 0.0)
    high = np.where(k > 0, edge(k + 1), 0.0)
    return np.where(b < 0, -high, low), np.where(b < 0, -low, high)


def pareto(buckets: Bucketed, points: int) -> list[tuple[float, float]]:
    """`points` evenly spaced (customer share, revenue share) pairs, largest first, each bucket's customers
    holding its mean (value.abc.pareto_curve's curve, exact where it crosses a bucket edge). Rounded to 6."""
    xs = np.linspace(0.0, 1.0, points)
    total = float(buckets.total.sum())
    count = buckets.valued
    if count == 0 or total <= 0:
        return [(round(float(x), 6), 0.0) for x in xs]
    customers = np.concatenate(([0], np.cumsum(buckets.n[::-1])))
    revenue = np.concatenate(([0.0], np.cumsum(buckets.total[::-1]))) / total
    ys = np.interp(xs * count, customers, revenue)
    return [(round(float(x), 6), round(float(y), 6)) for x, y in zip(xs, ys, strict=True)]


def cents_up(value: float) -> Decimal:
    """Rounded up to the cent (float noise of a modelled value below a millionth of a cent ignored)."""
    return Decimal(math.ceil(round(value * 100, 6))) / 100
