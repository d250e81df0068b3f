"""Our fits reproduce the published estimates on the CDNOW sample (weeks; see tests/data/README.md)."""

from pathlib import Path

import numpy as np
import pytest

from crm_scoring.clv import bgnbd, gammagamma

DATA = Path(__file__).resolve().parents[1] / "data"


def _load(name: str) -> np.ndarray:
    return np.genfromtxt(DATA / name, delimiter=",", names=True)


def test_bgnbd_cdnow_matches_fader_hardie_lee_2005() -> None:
    d = _load("cdnow_customers_summary.csv")
    fit = bgnbd.fit(d["frequency"], d["recency"], d["T"])
    assert fit.converged
    assert fit.n_customers == 2357
    assert fit.n_distinct < fit.n_customers
    p = fit.params
    assert p["r"] == pytest.approx(0.243, abs=0.001)
    assert p["alpha"] == pytest.approx(4.414, abs=0.002)
    assert p["a"] == pytest.approx(0.793, abs=0.001)
    assert p["b"] == pytest.approx(2.426, abs=0.002)
    assert fit.log_likelihood == pytest.approx(-9582.43, abs=0.01)


def test_gammagamma_cdnow_matches_fader_hardie_lee_2005_rfm_clv() -> None:
    d = _load("cdnow_customers_summary_with_transactions.csv")
    repeat = d["x"] > 0
    fit = gammagamma.fit(d["x"], d["zbar"])  # fit itself drops x == 0
    assert fit.converged
    assert fit.n_customers == int(repeat.sum()) == 946
    p = fit.params
    assert p["p"] == pytest.approx(6.25, abs=0.01)
    assert p["q"] == pytest.approx(3.74, abs=0.01)
    assert p["gamma"] == pytest.approx(15.44, abs=0.02)
    # Published population mean spend per transaction p*gamma/(q-1) is about $35.
    assert gammagamma.population_mean_spend(fit.values()) == pytest.approx(35.2, abs=0.1)


def test_bgnbd_cdnow_one_time_buyers_always_alive_but_mbgnbd_not() -> None:
    from crm_scoring.clv import mbgnbd

    d = _load("cdnow_customers_summary.csv")
    x, t_x, T = d["frequency"], d["recency"], d["T"]
    one_time = x == 0
    assert one_time.mean() > 0.5  # the majority, as the issue warns
    bg = bgnbd.fit(x, t_x, T)
    mbg = mbgnbd.fit(x, t_x, T)
    assert np.all(bgnbd.p_alive(bg.values(), x, t_x, T)[one_time] == 1.0)
    assert np.all(mbgnbd.p_alive(mbg.values(), x, t_x, T)[one_time] < 1.0)
