"""A large audience's preview count, estimated on a uniform random sample.

Each audience row carries `sample_key`, uniform in [0, 1) and drawn at insert independently of everything
else, so the rows with sample_key < p are a Bernoulli(p) sample of the audience, read through its index.
Of the M customers a rule tree matches, the number x found in that sample is Binomial(M, p) with p known:
the estimate is x / p (unbiased, and needing no audience size), and the 95% interval is the exact
(Clopper-Pearson style) inversion of that binomial in its number of trials M — the Ms under which x is
not in either 2.5% tail. The audience size (PostgreSQL's own estimate from pg_class) only picks p, so a
stale statistic makes the sample larger or smaller, never the interval wrong."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field
from scipy.stats import binom

CONFIDENCE = 0.95


class PreviewSettings(BaseModel):
    """The preview's settings, part of the service's (env CAMPAIGN_PREVIEW_EXACT_BELOW,
    CAMPAIGN_PREVIEW_SAMPLE_ROWS)."""

    # An audience of fewer rows than this is counted exactly (a scan of it is cheap enough).
    preview_exact_below: int = Field(default=100_000, ge=0)
    # Rows read for an estimate: ~25k gives +-1.2% on the whole audience, +-4% on a tenth of it.
    preview_sample_rows: int = Field(default=25_000, ge=1_000, le=1_000_000)


@dataclass(frozen=True)
class Estimate:
    count: int
    low: int
    high: int


def sample_fraction(audience_rows: float, settings: PreviewSettings) -> float | None:
    """The share p of the audience to sample, or None to count exactly (small or never-analysed table)."""
    if audience_rows < 0 or audience_rows < settings.preview_exact_below:
        return None
    p = settings.preview_sample_rows / max(audience_rows, 1.0)
    return p if p < 1 else None


def _first(lo: int, hi: int, ok: Callable[[int], bool]) -> int:
    """The smallest m in [lo, hi] with ok(m), ok being monotone (false then true); hi when none."""
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def estimate(matched: int, p: float, confidence: float = CONFIDENCE) -> Estimate:
    """The count M behind `matched` ~ Binomial(M, p): x / p and the exact interval at `confidence`."""
    if not 0 < p <= 1 or matched < 0:
        raise ValueError("need 0 < p <= 1 and matched >= 0")
    tail = (1 - confidence) / 2
    # Far enough above any plausible M: the mean plus 20 standard deviations of a Poisson(x + 1), over p.
    ceiling = math.ceil((matched + 20 * math.sqrt(matched + 1) + 20) / p)
    # P(X >= x | M) grows with M: the lowest M not rejecting x from above (x itself at least).
    low = 0 if matched == 0 else _first(matched, ceiling, lambda m: float(binom.sf(matched - 1, m, p)) > tail)
    # P(X <= x | M) falls with M: the highest M not rejecting x from below.
    high = _first(matched, ceiling, lambda m: float(binom.cdf(matched, m, p)) <= tail) - 1
    return Estimate(count=round(matched / p), low=low, high=max(high, matched))


def names_its_customers(rules: Any) -> bool:
    """Whether the rules list their customers (`customer_id in [...]`, alone or in a top-level `and`): the
    primary key bounds such a count, so it stays exact whatever the audience size."""
    conditions = rules.get("and", [rules]) if isinstance(rules, dict) else []
    return any(isinstance(c, dict) and c.get("field") == "customer_id" and c.get("op") == "in" for c in conditions)
