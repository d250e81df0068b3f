"""The read's fast paths (packed-key quicksort by id instead of lexsorts and 16-byte strings, slices aggregated
in threads) against a plain per-customer Python computation, with ids sharing their first 8 bytes, orders at
the same instant and local days out of time order."""

import uuid
from collections import defaultdict
from datetime import UTC, datetime

import numpy as np
import pytest

from crm_scoring.compute import summary
from crm_scoring.compute.summary import SPLIT_FIELDS, _assemble, _id_runs, aggregate, aggregate_split
from crm_scoring.rules.schemas import Tenant

DAY = 86_400
AS_OF_DAY, WINDOW = 19_700, 120


def ids_sharing_prefixes(rng: np.random.Generator, count: int) -> list[bytes]:
    """Random ids, a third of them in groups sharing their first 8 bytes (and their first byte: one slice)."""
    ids: list[bytes] = []
    while len(ids) < count:
        prefix = rng.bytes(8)
        ids += [prefix + rng.bytes(8) for _ in range(int(rng.integers(1, 4)))]
    return ids[:count]


def orders(rng: np.random.Generator) -> tuple[list[bytes], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ids = ids_sharing_prefixes(rng, 150)
    n = 1_500
    chosen = rng.integers(0, len(ids), n)
    at = 19_000 * DAY + rng.integers(0, 700 * DAY, n).astype(np.float64)
    at[1::7] = at[::7][: len(at[1::7])]  # the same instant again (and often the same customer below)
    chosen[1::7] = chosen[::7][: len(chosen[1::7])]
    at[2::7] = at[::7][: len(at[2::7])] - rng.integers(1, 300, len(at[2::7]))  # earlier, listed later
    chosen[2::7] = chosen[::7][: len(chosen[2::7])]
    net = rng.gamma(2, 30, n).round(2)
    net[rng.random(n) < 0.05] = np.nan
    # Local clocks 3 h either side of UTC at random: local days then disagree with time order now and then.
    local = at + rng.choice([-3 * 3600.0, 3 * 3600.0], n)
    customer = np.frombuffer(b"".join(ids), dtype="V16")[chosen]
    return ids, customer, at, net, local


def reference(
    customer: np.ndarray, at: np.ndarray, net: np.ndarray, local: np.ndarray, keep: np.ndarray
) -> dict[bytes, dict[str, float]]:
    """Per customer, in plain Python: orders by (local day, time, position), purchase days, the sums."""
    per: dict[bytes, list[tuple[int, float, int]]] = defaultdict(list)
    for i in np.flatnonzero(keep).tolist():
        per[customer[i].tobytes()].append((int(local[i] // DAY), float(at[i]), i))
    out = {}
    for c, rows in per.items():
        rows.sort()
        days: dict[int, float] = defaultdict(float)
        for d, _, i in rows:
            days[d] += 0.0 if np.isnan(net[i]) else float(net[i])
        first = rows[0][0]
        recent = [d for d in days if d > AS_OF_DAY - WINDOW]
        previous = [d for d in days if AS_OF_DAY - 2 * WINDOW < d <= AS_OF_DAY - WINDOW]
        out[c] = {
            "n_orders": len(rows),
            "n_days": len(days),
            "n_unpriced": sum(bool(np.isnan(net[i])) for _, _, i in rows),
            "first_day": first,
            "last_day": rows[-1][0],
            "first_at": rows[0][1],
            "last_at": rows[-1][1],
            "total": sum(days.values()),
            "first_spend": days[first],
            "spend_12m": sum(v for d, v in days.items() if d > AS_OF_DAY - 365),
            "days_recent": len(recent),
            "days_prev": len(previous),
            "spend_recent": sum(days[d] for d in recent),
            "spend_prev": sum(days[d] for d in previous),
        }
    return out


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("key_bits", [63, 36, 0], ids=["packed key", "coarse time steps", "lexsort"])
@pytest.mark.parametrize("slice_orders", [10_000, 97], ids=["whole", "16 slices"])
@pytest.mark.parametrize("masked", [False, True], ids=["all", "kept"])
def test_aggregate_matches_a_per_customer_computation(
    threads: int, key_bits: int, slice_orders: int, masked: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(summary, "READ_THREADS", threads)
    monkeypatch.setattr(summary, "KEY_BITS", key_bits)
    monkeypatch.setattr(summary, "SLICE_ORDERS", slice_orders)
    rng = np.random.default_rng(23)
    _, customer, at, net, local = orders(rng)
    if masked:  # the earlier split, from the same sort as the whole (checked against the reference too)
        cutoff = float(np.quantile(at, 0.7))
        keep = at <= cutoff
        whole, (got_ids, agg) = aggregate_split(customer, at, net, AS_OF_DAY, WINDOW, local, AS_OF_DAY, cutoff)
        assert list(agg) == list(SPLIT_FIELDS)
        everyone = reference(customer, at, net, local, np.ones(len(at), dtype=bool))
        assert [b.tobytes() for b in whole[0]] == sorted(everyone)
        for i, c in enumerate(whole[0]):
            for name, value in everyone[c.tobytes()].items():
                assert whole[1][name][i] == pytest.approx(value, abs=1e-9), (name, i)
    else:
        keep = np.ones(len(at), dtype=bool)
        got_ids, agg = aggregate(customer, at, net, AS_OF_DAY, WINDOW, local)

    expected = reference(customer, at, net, local, keep)
    assert [b.tobytes() for b in got_ids] == sorted(expected)
    for i, c in enumerate(got_ids):
        want = expected[c.tobytes()]
        for name, value in want.items():
            if name in agg:  # the earlier split holds what the choice reads (SPLIT_FIELDS)
                assert agg[name][i] == pytest.approx(value, abs=1e-9), (name, i)


def test_every_path_gives_the_same_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same order of the orders (ties in position order), so the same sums to the last bit."""
    rng = np.random.default_rng(29)
    _, customer, at, net, local = orders(rng)
    runs = []
    for threads, key_bits, slice_orders in [(1, 0, 10_000), (1, 63, 10_000), (2, 63, 97), (2, 36, 97), (1, 0, 97)]:
        monkeypatch.setattr(summary, "READ_THREADS", threads)
        monkeypatch.setattr(summary, "KEY_BITS", key_bits)
        monkeypatch.setattr(summary, "SLICE_ORDERS", slice_orders)
        ids, agg = aggregate(customer, at, net, AS_OF_DAY, WINDOW, local)
        runs.append([ids.tobytes()] + [agg[name].tobytes() for name in sorted(agg)])
    assert all(run == runs[0] for run in runs[1:])


def test_id_runs_sort_by_bytes_and_mark_each_new_id() -> None:
    rng = np.random.default_rng(31)
    ids = ids_sharing_prefixes(rng, 400)
    rows = np.frombuffer(b"".join(ids), dtype="V16")[rng.integers(0, len(ids), 3_000)]
    order, first = _id_runs(*summary.id_halves(rows))
    got = [r.tobytes() for r in rows[order]]
    assert got == sorted(got)
    assert first.tolist() == [i == 0 or got[i] != got[i - 1] for i in range(len(got))]


def test_assemble_lists_buyers_and_prospects_in_id_order() -> None:
    rng = np.random.default_rng(37)
    ids = ids_sharing_prefixes(rng, 300)
    buyers = sorted(set(ids[:200]))  # as aggregate gives them: distinct, in id order
    known_ids = [ids[i] for i in rng.permutation(np.arange(100, 300))]  # a known table, in its own order
    known_ids.append(ids[0])  # a buyer known, then not a prospect
    k = len(known_ids)
    known = {
        "customer_id": np.frombuffer(b"".join(known_ids), dtype="V16"),
        "prospect": rng.random(k) < 0.6,
        "payment_terms": rng.integers(0, 5, k).astype(np.int16),
        "brand_contribution": rng.integers(0, 4, k).astype(np.int16),
        "declared_budget": rng.gamma(2, 500, k),
        "share_of_wallet": rng.random(k),
    }
    known["prospect"][-1] = False
    agg: dict[str, np.ndarray] = {name: rng.integers(1, 50, len(buyers)) for name in summary.INT_FIELDS}
    agg.update({name: rng.random(len(buyers)) for name in summary.FLOAT_FIELDS})
    got = _assemble(
        np.frombuffer(b"".join(buyers), dtype="V16"), agg, known, datetime(2026, 11, 1, tzinfo=UTC), Tenant()
    )

    prospects = {c for c, p in zip(known_ids, known["prospect"], strict=True) if p}
    expected = sorted(set(buyers) | prospects)
    assert [uuid.UUID(bytes=b.tobytes()) for b in got["customer_id"]] == [uuid.UUID(bytes=b) for b in expected]
    bought = {c: i for i, c in enumerate(buyers)}
    attributes = {c: i for i, c in enumerate(known_ids)}
    for row, c in enumerate(expected):
        for name in (*summary.INT_FIELDS, *summary.FLOAT_FIELDS):
            if c in bought:
                assert got[name][row] == agg[name][bought[c]], name
            else:
                assert got[name][row] == 0 or (name.endswith("_at") and np.isnan(got[name][row])), name
        for name in ("payment_terms", "brand_contribution", "declared_budget", "share_of_wallet"):
            if c in attributes:
                assert got[name][row] == known[name][attributes[c]], name
            else:
                assert got[name][row] == 0 or np.isnan(got[name][row]), name
