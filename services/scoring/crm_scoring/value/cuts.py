"""Cut points: how base-relative classes (RFM quintiles, ABC, gold) are kept so that one customer can be
placed exactly where a batch run over the whole base would put it.

Every such class is a non-decreasing step function of one "goodness" key (ties share a class): levels run
1..top for eligible customers (0 = not eligible, e.g. no purchase). The batch classes the base, then keeps,
per level s >= 2, the smallest key that reached level s. Placing a key = 1 + the number of cuts at or below
it. For any key present in the batch's base this reproduces the batch's level exactly (monotonicity); a new
key lands where its value falls between the base's keys.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Cuts = list[float | None]


def cuts_from_levels(key: npt.ArrayLike, levels: npt.ArrayLike, top: int) -> Cuts:
    """cut[s-2] = min key among customers at level >= s for s = 2..top; None when nobody reached s."""
    k = np.asarray(key, dtype=np.float64)
    lv = np.asarray(levels, dtype=np.int64)
    out: Cuts = []
    for s in range(2, top + 1):
        sel = lv >= s
        out.append(float(k[sel].min()) if sel.any() else None)
    return out


def place(key: npt.ArrayLike, cuts: Cuts, eligible: npt.ArrayLike) -> np.ndarray:
    """Level per customer: 1 + the number of cuts <= key for eligible customers, 0 for the others."""
    k = np.asarray(key, dtype=np.float64)
    ok = np.asarray(eligible, dtype=bool) & np.isfinite(k)
    level = ok.astype(np.int8)
    for c in cuts:
        if c is not None:
            level += (ok & (k >= c)).astype(np.int8)
    return level
