"""On a large base the multi-start runs on a sample and the whole base is polished from its optimum: the
result is the same maximum-likelihood estimate as a multi-start on the whole base."""

import numpy as np
import pytest

from crm_scoring.clv import _fit, bgnbd, gammagamma, mbgnbd
from crm_scoring.clv.simulate import simulate_mbgnbd


def _data():
    rng = np.random.default_rng(11)
    sim = simulate_mbgnbd(20_000, (0.9, 10.0, 1.6, 14.0), np.floor(rng.uniform(0, 156 * 7, 20_000)) / 7, seed=rng)
    spend = np.where(sim.x > 0, rng.gamma(5.0, 10.0, sim.x.size), np.nan)
    return sim.x, sim.t_x, sim.T, spend


def _whole(monkeypatch, fit):
    """The fit with the multi-start on the whole base."""
    with monkeypatch.context() as m:
        m.setattr(_fit, "PRESAMPLE_ABOVE", 10**9)
        return fit()


def _sampled(monkeypatch):
    monkeypatch.setattr(_fit, "PRESAMPLE_ABOVE", 5_000)
    monkeypatch.setattr(_fit, "PRESAMPLE_MIN", 2_000)
    assert len(_fit.presample(20_000)) == 5_000  # a quarter of the base


@pytest.mark.parametrize("module", [bgnbd, mbgnbd])
def test_purchase_models(module, monkeypatch):
    x, t_x, T, _ = _data()
    whole = _whole(monkeypatch, lambda: module.fit(x, t_x, T))
    _sampled(monkeypatch)
    sampled = module.fit(x, t_x, T)
    assert sampled.log_likelihood == pytest.approx(whole.log_likelihood, abs=1e-3)
    for name, value in whole.params.items():
        assert sampled.params[name] == pytest.approx(value, rel=1e-3)
    assert sampled.n_customers == whole.n_customers == 20_000


def test_spend_model(monkeypatch):
    x, _, _, spend = _data()
    whole = _whole(monkeypatch, lambda: gammagamma.fit(x, spend))
    _sampled(monkeypatch)
    sampled = gammagamma.fit(x, spend)
    assert sampled.log_likelihood == pytest.approx(whole.log_likelihood, abs=1e-3)
    for name, value in whole.params.items():
        assert sampled.params[name] == pytest.approx(value, rel=1e-3)
