"""The NumPy aggregation of orders into per-customer summaries, against a plain Python reference."""

import uuid
from collections import defaultdict

import numpy as np
import pytest

from crm_scoring.compute import summary
from crm_scoring.compute.summary import SPLIT_FIELDS, aggregate, aggregate_split

DAY = 86_400


@pytest.mark.parametrize("slice_orders", [1_000_000, 50, 7], ids=["whole", "4 slices", "26 slices"])
def test_aggregate_matches_a_plain_reference(slice_orders: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summary, "SLICE_ORDERS", slice_orders)  # slices by the ids' first byte, some empty
    rng = np.random.default_rng(7)
    ids = [uuid.uuid4() for _ in range(40)]
    rows = []
    for c in ids:
        for _ in range(int(rng.integers(1, 9))):
            day = int(rng.integers(19_000, 19_700))
            rows.append((c, day * DAY + float(rng.integers(0, DAY)), round(float(rng.gamma(2, 30)), 2)))
    rows.append((ids[0], rows[0][1] + 1.0, 5.0))  # a second order on the same day
    as_of_day, window = 19_700, 180
    customer = np.frombuffer(b"".join(c.bytes for c, _, _ in rows), dtype="V16")
    at = np.array([r[1] for r in rows])
    net = np.array([r[2] for r in rows])
    got_ids, agg = aggregate(customer, at, net, as_of_day, window)

    per: dict[uuid.UUID, list[tuple[float, float]]] = defaultdict(list)
    for c, t, v in rows:
        per[c].append((t, v))
    expected_ids = sorted(per, key=lambda u: u.bytes)
    assert [uuid.UUID(bytes=b.tobytes()) for b in got_ids] == expected_ids
    for i, c in enumerate(expected_ids):
        orders = sorted(per[c])
        days: dict[int, float] = defaultdict(float)
        for t, v in orders:
            days[int(t // DAY)] += v
        first = min(days)
        assert agg["n_orders"][i] == len(orders)
        assert agg["n_days"][i] == len(days)
        assert agg["first_day"][i] == first
        assert agg["last_day"][i] == max(days)
        assert agg["first_at"][i] == orders[0][0]
        assert agg["last_at"][i] == orders[-1][0]
        assert abs(agg["total"][i] - sum(days.values())) < 1e-9
        assert abs(agg["first_spend"][i] - days[first]) < 1e-9
        assert abs(agg["spend_12m"][i] - sum(v for d, v in days.items() if d > as_of_day - 365)) < 1e-9
        recent = [d for d in days if d > as_of_day - window]
        previous = [d for d in days if as_of_day - 2 * window < d <= as_of_day - window]
        assert agg["days_recent"][i] == len(recent)
        assert agg["days_prev"][i] == len(previous)
        assert abs(agg["spend_recent"][i] - sum(days[d] for d in recent)) < 1e-9
        assert abs(agg["spend_prev"][i] - sum(days[d] for d in previous)) < 1e-9


def test_no_orders() -> None:
    ids, agg = aggregate(np.zeros(0, dtype="V16"), np.zeros(0), np.zeros(0), 19_700, 180)
    assert len(ids) == 0
    assert all(len(v) == 0 for v in agg.values())


def test_slices_with_local_days_give_the_whole_result(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    n = 2_000
    customer = np.frombuffer(b"".join(uuid.uuid4().bytes for _ in range(300)), dtype="V16")[rng.integers(0, 300, n)]
    at = 19_000 * DAY + rng.uniform(0, 700 * DAY, n)
    net = np.where(rng.random(n) < 0.05, np.nan, rng.gamma(2, 30, n).round(2))
    local = at - 5 * 3600
    whole_ids, whole = aggregate(customer, at, net, 19_700, 180, local)
    monkeypatch.setattr(summary, "SLICE_ORDERS", 300)
    ids, sliced = aggregate(customer, at, net, 19_700, 180, local)
    assert ids.tobytes() == whole_ids.tobytes()
    for name, values in whole.items():
        assert np.array_equal(sliced[name], values), name


@pytest.mark.parametrize("slice_orders", [1_000_000, 300], ids=["whole", "slices"])
def test_the_earlier_split_counts_what_a_copy_of_its_orders_counts(
    slice_orders: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The earlier split of a batch (orders placed by a date), from the sort of all the orders: the same bits
    as those orders aggregated on their own, and the whole the same as `aggregate` gives."""
    monkeypatch.setattr(summary, "SLICE_ORDERS", slice_orders)
    rng = np.random.default_rng(11)
    n = 2_000
    customer = np.frombuffer(b"".join(uuid.uuid4().bytes for _ in range(300)), dtype="V16")[rng.integers(0, 300, n)]
    at = 19_000 * DAY + rng.uniform(0, 700 * DAY, n)
    net = rng.gamma(2, 30, n).round(2)
    local = at + 2 * 3600
    keep = at <= 19_500 * DAY
    copied_ids, copied = aggregate(customer[keep], at[keep], net[keep], 19_500, 90, local[keep])
    whole_ids, whole = aggregate(customer, at, net, 19_700, 90, local)
    (both_ids, both), (ids, split) = aggregate_split(customer, at, net, 19_700, 90, local, 19_500, 19_500 * DAY)
    assert ids.tobytes() == copied_ids.tobytes()
    assert list(split) == list(SPLIT_FIELDS)  # what the churn choice reads, no more
    for name in SPLIT_FIELDS:
        assert np.array_equal(split[name], copied[name]), name
    assert both_ids.tobytes() == whole_ids.tobytes()
    for name, values in whole.items():
        assert np.array_equal(both[name], values), name


def _orders(rng: np.random.Generator, ids: list[bytes], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n orders of the given customers over 300 days from day 19,000: (customer, at, net)."""
    customer = np.frombuffer(b"".join(ids), dtype="V16")[rng.integers(0, len(ids), n)]
    return customer, 19_000 * DAY + rng.uniform(0, 300 * DAY, n), rng.gamma(2, 30, n).round(2)


def _split_beside_whole(
    customer: np.ndarray, at: np.ndarray, net: np.ndarray, then_day: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """aggregate_split's earlier split as of `then_day`, its whole part checked against `aggregate`."""
    (ids, whole), split = aggregate_split(customer, at, net, 19_400, 90, None, then_day, then_day * DAY)
    want_ids, want = aggregate(customer, at, net, 19_400, 90)
    assert ids.tobytes() == want_ids.tobytes()
    assert all(np.array_equal(whole[name], values) for name, values in want.items())
    assert list(split[1]) == list(SPLIT_FIELDS)
    return split


def test_an_earlier_split_before_every_order_is_empty() -> None:
    customer, at, net = _orders(np.random.default_rng(13), [uuid.uuid4().bytes for _ in range(20)], 200)
    none, split = _split_beside_whole(customer, at, net, 18_000)
    assert len(none) == 0
    assert all(len(values) == 0 for values in split.values())


def test_a_slice_without_orders_joins_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices go by the ids' first byte: a slice can hold no order (few customers, many orders each), and the
    split's fields are still the same in every slice."""
    monkeypatch.setattr(summary, "SLICE_ORDERS", 50)
    ids = [bytes([0xF0 + k]) + uuid.uuid4().bytes[1:] for k in range(3)]  # all in the last slices
    customer, at, net = _orders(np.random.default_rng(17), ids, 400)
    ids_then, _ = _split_beside_whole(customer, at, net, 19_200)
    assert len(ids_then) == 3
