"""RFM scores (1-5 quintiles over the active base), data-driven RFM segments and the R x F grid for charts.

Scoring rule (deterministic, tie-safe):
  Only *active* customers are scored: at least one purchase (frequency > 0) and a finite recency and monetary
  value (optionally narrowed further by an ``active`` mask). Everyone else gets score 0 ("not scored").
  Within the active base each value gets its *average rank* r in 1..n (ascending on "goodness": fewer days
  since the last purchase is better for recency, more is better for frequency and monetary), and the score is
  ``ceil(5 * r / n)``. Equal values share an average rank and therefore always share a score. The arithmetic
  is done on integers (2r is always an integer), so there is no float edge at the quintile cuts.
  Example, 10 distinct values: ranks 1..10 -> scores 1,1,2,2,3,3,4,4,5,5.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from crm_scoring.value.errors import FormulaError

SCORES = (1, 2, 3, 4, 5)

# First match wins; the last rule is a catch-all. Ranges are inclusive [low, high]; an omitted axis means 1-5.
# Layout follows the usual R-by-F grid (R rows, F columns), with champions also requiring a high M.
RFM_SEGMENTS_DEFAULT: list[dict[str, Any]] = [
    {"name": "champions", "r": [4, 5], "f": [4, 5], "m": [4, 5]},
    {"name": "loyal", "r": [3, 5], "f": [3, 5]},
    {"name": "new_customers", "r": [5, 5], "f": [1, 1]},
    {"name": "promising", "r": [4, 4], "f": [1, 1]},
    {"name": "potential_loyalists", "r": [4, 5], "f": [2, 2]},
    {"name": "need_attention", "r": [3, 3], "f": [1, 2]},
    {"name": "cannot_lose_them", "r": [1, 1], "f": [4, 5]},
    {"name": "at_risk", "r": [1, 2], "f": [3, 5]},
    {"name": "about_to_sleep", "r": [2, 2], "f": [1, 2]},
    {"name": "hibernating", "r": [1, 1], "f": [2, 2]},
    {"name": "lost", "r": [1, 5], "f": [1, 5], "m": [1, 5]},
]

UNSCORED_SEGMENT = ""


def quintile_scores(values: npt.ArrayLike, active: npt.ArrayLike, *, higher_is_better: bool = True) -> np.ndarray:
    """Score 1-5 by average-rank quintiles among ``active`` customers; inactive customers get 0."""
    vals = np.asarray(values, dtype=np.float64)
    mask = np.asarray(active, dtype=bool) & np.isfinite(vals)
    out = np.zeros(vals.shape, dtype=np.int8)
    n = int(mask.sum())
    if n == 0:
        return out
    key = vals[mask] if higher_is_better else -vals[mask]
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    # Ranks of a tie group occupy start+1 .. start+count, so twice the average rank is 2*start + count + 1.
    starts = np.cumsum(counts) - counts
    two_rank = 2 * starts + counts + 1
    # ceil(5 * r / n) == ceil(5 * 2r / 2n), done in integers.
    group_score = -((-5 * two_rank) // (2 * n))
    out[mask] = group_score[inverse.reshape(-1)].astype(np.int8)
    return out


def rfm_scores(
    recency_days: npt.ArrayLike,
    frequency: npt.ArrayLike,
    monetary: npt.ArrayLike,
    active: npt.ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(R, F, M) int8 arrays, 1-5 for the active base and 0 for customers with no purchase.

    ``recency_days``: days since the last purchase (NaN if none); ``frequency``: number of purchases;
    ``monetary``: total (or average) spend. ``active`` optionally narrows the base further (e.g. not deleted).
    """
    rec = np.asarray(recency_days, dtype=np.float64)
    freq = np.asarray(frequency, dtype=np.float64)
    mon = np.asarray(monetary, dtype=np.float64)
    base = (freq > 0) & np.isfinite(rec) & np.isfinite(freq) & np.isfinite(mon)
    if active is not None:
        base &= np.asarray(active, dtype=bool)
    return (
        quintile_scores(rec, base, higher_is_better=False),
        quintile_scores(freq, base),
        quintile_scores(mon, base),
    )


def _parse_range(rule_name: str, rule: Mapping[str, Any], axis: str) -> tuple[int, int]:
    raw = rule.get(axis, [1, 5])
    ok = (
        isinstance(raw, list | tuple)
        and len(raw) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 5 for v in raw)
        and raw[0] <= raw[1]
    )
    if not ok:
        raise FormulaError(rule_name, f"must be [low, high] with integers 1 <= low <= high <= 5, got {raw!r}", axis)
    return int(raw[0]), int(raw[1])


def validate_segments(rules: Sequence[Mapping[str, Any]]) -> tuple[list[str], np.ndarray]:
    """Check a segment mapping and compile it to ``(names, table)``.

    ``table[r, f, m]`` is the index into ``names`` of the first matching rule for scores 1-5 (-1 at index 0,
    i.e. unscored). Rejects: empty mapping, non-dict rules, empty/duplicate names, unknown keys, bad ranges,
    a rule no (r, f, m) cell can reach because earlier rules take all its cells, and any cell no rule covers.
    """
    if not isinstance(rules, list | tuple) or not rules:
        raise FormulaError("(segments)", "the mapping must be a non-empty list of rules")
    table = np.full((6, 6, 6), -1, dtype=np.int16)
    names: list[str] = []
    for i, rule in enumerate(rules):
        label = f"segments[{i}]"
        if not isinstance(rule, Mapping):
            raise FormulaError(label, "each rule must be an object")
        name = rule.get("name")
        if not isinstance(name, str) or not name.strip():
            raise FormulaError(label, "name must be a non-empty string", "name")
        if name in names:
            raise FormulaError(name, "duplicate segment name", "name")
        unknown = set(rule) - {"name", "r", "f", "m"}
        if unknown:
            raise FormulaError(name, f"unknown keys {sorted(unknown)}")
        (r0, r1), (f0, f1), (m0, m1) = (_parse_range(name, rule, axis) for axis in ("r", "f", "m"))
        cells = table[r0 : r1 + 1, f0 : f1 + 1, m0 : m1 + 1]
        free = cells == -1
        if not free.any():
            raise FormulaError(name, "unreachable: every cell it covers is taken by an earlier rule")
        cells[free] = len(names)
        names.append(name)
    holes = np.argwhere(table[1:, 1:, 1:] == -1) + 1
    if len(holes):
        r, f, m = (int(v) for v in holes[0])
        raise FormulaError("(segments)", f"{len(holes)} cells match no rule, e.g. r={r} f={f} m={m}; add a catch-all")
    return names, table


def segment_codes(
    r: npt.ArrayLike, f: npt.ArrayLike, m: npt.ArrayLike, rules: Sequence[Mapping[str, Any]] = RFM_SEGMENTS_DEFAULT
) -> tuple[np.ndarray, list[str]]:
    """Per-customer index into the returned names (-1 for unscored customers), vectorized via a lookup table."""
    names, table = validate_segments(rules)
    ra, fa, ma = (np.asarray(a, dtype=np.intp) for a in (r, f, m))
    scored = (ra >= 1) & (ra <= 5) & (fa >= 1) & (fa <= 5) & (ma >= 1) & (ma <= 5)
    codes = np.where(scored, table[np.where(scored, ra, 0), np.where(scored, fa, 0), np.where(scored, ma, 0)], -1)
    return codes.astype(np.int16), names


def segment(
    r: npt.ArrayLike, f: npt.ArrayLike, m: npt.ArrayLike, rules: Sequence[Mapping[str, Any]] = RFM_SEGMENTS_DEFAULT
) -> np.ndarray:
    """Segment name per customer (first matching rule); ``""`` for customers that are not scored."""
    codes, names = segment_codes(r, f, m, rules)
    lookup = np.array([*names, UNSCORED_SEGMENT])
    return lookup[codes]  # -1 indexes the trailing "" entry


def rfm_grid(r: npt.ArrayLike, f: npt.ArrayLike) -> np.ndarray:
    """5x5 counts of scored customers; ``grid[R-1, F-1]`` is the number with recency R and frequency F."""
    ra = np.asarray(r, dtype=np.intp)
    fa = np.asarray(f, dtype=np.intp)
    ok = (ra >= 1) & (ra <= 5) & (fa >= 1) & (fa <= 5)
    flat = (ra[ok] - 1) * 5 + (fa[ok] - 1)
    return np.bincount(flat, minlength=25).reshape(5, 5)


def rfm_grid_cells(r: npt.ArrayLike, f: npt.ArrayLike) -> list[dict[str, int]]:
    """The grid as chart-ready rows ``{"r": R, "f": F, "count": n}`` for all 25 cells."""
    grid = rfm_grid(r, f)
    return [{"r": ri, "f": fi, "count": int(grid[ri - 1, fi - 1])} for ri in SCORES for fi in SCORES]
