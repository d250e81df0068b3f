"""How the fits search. Several starts screened with loose tolerances and only the best searched to the end
reach the optimum of a full search from every start, in fewer likelihood evaluations; BG/NBD searches from its
first start alone and screens the others only when that search ends in doubt (`_fit.fit_log_params`)."""

from pathlib import Path

import numpy as np
import pytest

from crm_scoring.clv import _fit, _nbd, bgnbd
from crm_scoring.clv.simulate import simulate_mbgnbd
from crm_scoring.clv.summary import group

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "cdnow_customers_summary.csv"
SHAPES = ((1.0, 1.0), (0.5, 2.0), (2.0, 8.0))  # _nbd.fit's drop-out shapes (a, b)


def _cdnow() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = np.genfromtxt(SAMPLE, delimiter=",", names=True)
    return d["frequency"], d["recency"], d["T"]


class Counted:
    """A base's likelihood, counting evaluations, with _nbd.fit's starts."""

    def __init__(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, shift: int) -> None:
        distinct, weights, _ = group(x, t_x, T)
        self.rows = _nbd.prepare(distinct[:, 0], distinct[:, 1], distinct[:, 2], weights, shift)
        self.n, self.n_distinct, self.calls = len(x), len(distinct), 0
        rate = max(float(np.sum(x) / max(np.sum(T), 1e-9)), 1e-3)  # as _nbd.fit
        self.starts = [(1.0, 1.0 / rate, a0, b0) for a0, b0 in SHAPES]

    def loglik_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        self.calls += 1
        return _nbd.loglik_grad(theta, self.rows)

    def fit(self, starts, alternatives=()) -> _fit.FitResult:
        return _fit.fit_log_params(
            "m", _nbd.PARAM_NAMES, self.loglik_grad, starts, self.n, self.n_distinct, alternatives
        )

    def full_searches(self) -> _fit.FitResult:
        """The best of one search to the end from each start."""
        return max((self.fit([start]) for start in self.starts), key=lambda f: f.log_likelihood)


def _same_optimum(fit: _fit.FitResult, best: _fit.FitResult) -> None:
    assert fit.converged
    assert fit.log_likelihood == pytest.approx(best.log_likelihood, abs=1e-6)
    for name, value in best.params.items():
        assert fit.params[name] == pytest.approx(value, rel=1e-6)


def test_screened_starts_reach_the_optimum_of_full_searches_in_fewer_evaluations() -> None:
    base = Counted(*_cdnow(), shift=0)
    best = base.full_searches()
    full_calls, base.calls = base.calls, 0
    screened = base.fit(base.starts)
    _same_optimum(screened, best)
    assert base.calls < 0.8 * full_calls
    # FHL (2005)'s estimates on this data: r 0.243, alpha 4.414, a 0.793, b 2.426.
    assert [round(v, 3) for v in screened.values()] == [0.243, 4.414, 0.793, 2.426]


def test_bgnbd_searches_from_one_start_when_it_ends_without_doubt(monkeypatch) -> None:
    x, t_x, T = _cdnow()
    base = Counted(x, t_x, T, shift=0)
    best = base.full_searches()
    base.calls = 0
    base.fit(base.starts)
    screened_calls = base.calls
    calls = [0]
    evaluate = _nbd.loglik_grad

    def counted(theta, rows):
        calls[0] += 1
        return evaluate(theta, rows)

    monkeypatch.setattr(_nbd, "loglik_grad", counted)
    fit = bgnbd.fit(x, t_x, T)
    _same_optimum(fit, best)
    assert calls[0] < 0.7 * screened_calls  # 20 against 40 when measured


def test_a_search_ending_in_doubt_screens_the_alternatives() -> None:
    # A small MBG/NBD base whose search from the first start ends in doubt (at the log-box's edge), 0.2 below
    # the maximum that another start reaches.
    rng = np.random.default_rng(0)
    sim = simulate_mbgnbd(300, (0.3, 6.0, 8.0, 0.6), rng.uniform(52, 104, 300), seed=rng)
    base = Counted(sim.x, sim.t_x, sim.T, shift=1)
    best = base.full_searches()
    alone = base.fit(base.starts[:1])
    assert not alone.converged or np.max(np.abs(np.log(alone.values()))) > _fit._LOG_BOUND - _fit._DOUBT_MARGIN
    assert alone.log_likelihood < best.log_likelihood - 0.1
    checked = base.fit(base.starts[:1], alternatives=base.starts[1:])
    assert checked.log_likelihood == pytest.approx(best.log_likelihood, abs=1e-6)
