"""A split of the history at an earlier date: the customers who had bought by then, what each bought after
it, and which of them are held out to compare candidates (the rest train the classifier)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..compute.summary import Summaries


def purchase_days_after(then: Summaries, later: Summaries) -> np.ndarray:
    """Purchase days each customer of `then` added by `later` (0 when `later` lacks the customer; floored at 0:
    an order cancelled in between can make a count smaller)."""
    then_keys = np.ascontiguousarray(then["customer_id"]).view("S16")
    later_keys = np.ascontiguousarray(later["customer_id"]).view("S16")
    if not len(later_keys):
        return np.zeros(len(then_keys), dtype=np.int64)
    at = np.minimum(np.searchsorted(later_keys, then_keys), len(later_keys) - 1)
    found = later_keys[at] == then_keys
    days_later = np.where(found, later["n_days"][at], then["n_days"])
    return np.maximum(days_later - then["n_days"], 0)


def held_out(ids: np.ndarray, share: float) -> np.ndarray:
    """A stable share of customers by id (the same customers from one run to the next), from the id's last
    eight bytes: random for UUIDv4 and still spread for sequential ids."""
    low = np.frombuffer(np.ascontiguousarray(ids).tobytes(), dtype=">u8").reshape(-1, 2)[:, 1]
    return (low % np.uint64(10_000)).astype(np.int64) < round(share * 10_000)


@dataclass(frozen=True)
class Split:
    then: Summaries  # everyone as of the split date
    buyers: np.ndarray  # bool over `then`: bought by the split date
    actual: np.ndarray  # purchase days after the split, per buyer
    validation: np.ndarray  # bool per buyer: held out to compare candidates

    @property
    def quiet(self) -> np.ndarray:
        """Per buyer: no purchase after the split (what the churn risk should rank first)."""
        return self.actual == 0


def split(then: Summaries, now: Summaries, validation_share: float) -> Split:
    buyers = then["n_days"] > 0
    actual = purchase_days_after(then, now)[buyers]
    return Split(then, buyers, actual, held_out(then["customer_id"][buyers], validation_share))
