"""The batch's refit run in parallel threads gives exactly what it gives one step after the other
(selection/calibrate.py), and the shortcuts taken for speed change no figure: the churn choice with its fits
still running, the model signals and scores on rows grouped once, and Pareto/NBD's series summed per distinct
endpoint and now also where the quadrature used to take over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from crm_scoring.clv import _pareto
from crm_scoring.clv.summary import group
from crm_scoring.clv.value import PURCHASE_MODELS, clv, score_customers
from crm_scoring.compute.fitting import BACKTEST_PURCHASE_MODELS, fit_models
from crm_scoring.compute.model_inputs import model_inputs
from crm_scoring.compute.score import Calibration, cut_and_score, cut_base, derive, score
from crm_scoring.compute.summary import Summaries, _assemble, aggregate, day_number
from crm_scoring.rules.schemas import Rules, Tenant
from crm_scoring.selection.apply import churn_risk
from crm_scoring.selection.calibrate import fit_and_choose
from crm_scoring.selection.choose import choose
from crm_scoring.selection.ranking import auc_difference, components, paired_difference
from tests.scoring.helpers import mbgnbd_orders

NOW = datetime(2026, 6, 30, tzinfo=UTC)


def _at(orders: list[tuple], as_of: datetime, earlier: Summaries | None = None) -> Summaries:
    """Summaries as of `as_of` from (order id, customer id, ordered_at, amount) rows, as the batch reads them."""
    kept = [o for o in orders if o[2] <= as_of]
    customer = np.frombuffer(b"".join(o[1].bytes for o in kept), dtype="V16")
    at = np.array([o[2].timestamp() for o in kept])
    net = np.array([float(o[3]) for o in kept])
    ids, agg = aggregate(customer, at, net, day_number(as_of), Rules().clv.trend_window_days)
    return _assemble(ids, agg, None, as_of, Tenant(), earlier)


@pytest.fixture(scope="module")
def base() -> Summaries:
    """4,000 MBG/NBD customers now, with the split one churn horizon (a year) back."""
    orders = mbgnbd_orders(4000, 23, NOW, 0)
    return _at(orders, NOW, _at(orders, NOW - timedelta(days=Rules().churn.horizon_days)))


@pytest.mark.parametrize("store", [True, False])
def test_the_parallel_refit_equals_the_sequential_one(base: Summaries, store: bool) -> None:
    rules = Rules()
    sequential = fit_and_choose(base, {}, rules, store=store, parallel=False)
    timings: dict[str, float] = {}
    parallel = fit_and_choose(base, {}, rules, store=store, timings=timings, parallel=True)
    assert parallel.choice is not None
    assert sequential.choice is not None
    assert parallel.choice.selection == sequential.choice.selection
    assert parallel.fits == sequential.fits
    assert parallel.notes == sequential.notes
    assert set(timings) == {"choose", "fit"}
    # A live run fits the live models and what the choice needs; a backtest every purchase model.
    needed = {"bgnbd", "mbgnbd", "gammagamma"} | {parallel.choice.selection.purchase_model}
    assert set(parallel.fits) >= needed
    if not store:
        assert {"paretonbd"} <= set(parallel.fits)
    # From the previous fits as starts (a scheduled run), the same again.
    again = fit_and_choose(base, parallel.fits, rules, store=store, parallel=True)
    assert again.fits == fit_and_choose(base, parallel.fits, rules, store=store, parallel=False).fits


def test_the_choice_with_its_fits_still_running_equals_the_choice_given_them(base: Summaries) -> None:
    assert base.earlier is not None
    fits, _ = fit_models(model_inputs(base.earlier, 7.0), None, BACKTEST_PURCHASE_MODELS, spend=False)
    rules = Rules().churn
    given, _ = choose(base.earlier, base, fits, rules, 7.0)
    waited, _ = choose(base.earlier, base, lambda: fits, rules, 7.0)
    assert given is not None
    assert waited is not None
    assert given.selection == waited.selection


def test_scores_on_rows_grouped_once_equal_the_ungrouped_ones(base: Summaries) -> None:
    rules = Rules()
    done = fit_and_choose(base, {}, rules, store=True)
    assert done.choice is not None
    d = derive(base)
    cal = Calibration(None, done.fits, cut_base(base, d, rules), done.choice.selection, done.choice.classifier)
    scored = score(base, rules, None, None, cal, d)
    for parallel in (True, False):  # the batch's scoring, the model outputs computed while the base is cut
        cut, overlapped = cut_and_score(
            base, rules, None, None, done.fits, done.choice.selection, done.choice.classifier, parallel=parallel
        )
        assert cut == cal
        assert overlapped.keys() == scored.keys()
        for name, values in scored.items():
            np.testing.assert_array_equal(overlapped[name], values, err_msg=name)
    mi = model_inputs(base, rules.clv.unit_days)
    has = mi.has_purchase
    horizon, unit = rules.churn.horizon_days, rules.clv.unit_days
    plain, _ = churn_risk(base, mi, cal.fits, cal.selection, cal.classifier, horizon_days=horizon, unit_days=unit)
    rows, _, inverse = group(mi.x[has], mi.t_x[has], mi.T[has])
    grouped, _ = churn_risk(
        base, mi, cal.fits, cal.selection, cal.classifier, horizon_days=horizon, unit_days=unit, grouped=(rows, inverse)
    )
    np.testing.assert_array_equal(plain, grouped)
    np.testing.assert_array_equal(scored["churn_risk"], plain)


def test_pareto_series_per_distinct_endpoint_matches_the_quadrature_up_to_its_reach() -> None:
    """Rows whose lower endpoint has z in (0.5, 0.9] went to the quadrature before; the series now takes them
    (one-time buyers share their lower endpoint 0): both agree, with and without the precomputed endpoints."""
    rng = np.random.default_rng(8)
    for _ in range(30):
        r, s = rng.lognormal(0, 1.0, 2)
        alpha = float(rng.lognormal(1.0, 1.0))
        beta = alpha * float(rng.uniform(3.0, 12.0))  # z at 0 = 1 - alpha/beta: 0.67 to 0.92
        x = rng.integers(0, 30, 60).astype(float)
        T = np.round(rng.uniform(0.1, 150, 60), 1)
        t_x = np.where(x > 0, np.round(rng.uniform(0, 1, 60) * T, 1), 0.0)
        P, Q = r + x, np.full_like(x, s + 1.0)
        quadrature = _pareto._by_quadrature(P, Q, alpha, beta, t_x, T)
        reach = abs(alpha - beta) / (max(alpha, beta) + t_x) <= _pareto._SERIES_MAX_Z
        reach &= t_x < T  # (an empty interval: log 0 by both, its derivatives meaningless)
        for ends in (None, _pareto.distinct_ends(x, 0.0, t_x, T)):
            series = _pareto._by_series(P, Q, alpha, beta, t_x, T, ends)
            for a, b in zip(series, quadrature, strict=True):
                np.testing.assert_allclose(a[reach], b[reach], rtol=1e-8, atol=1e-9)
                assert np.isnan(a[~reach & (t_x < T)]).all()
            combined = _pareto._integral(P, Q, alpha, beta, t_x, T, ends)
            nonempty = t_x < T
            for a, b in zip(combined, quadrature, strict=True):
                np.testing.assert_allclose(a[nonempty], b[nonempty], rtol=1e-8, atol=1e-9)


def test_auc_components_computed_once_per_score_give_the_pairwise_test() -> None:
    rng = np.random.default_rng(9)
    positive = rng.random(3000) < 0.3
    a = rng.normal(size=3000) + positive
    b = np.round(a + rng.normal(scale=0.5, size=3000), 1)  # ties, as in the scores' plateaus
    pairwise = auc_difference(a, b, positive)
    assert pairwise is not None
    assert paired_difference(components(a, positive), components(b, positive)) == pairwise


def test_score_customers_clv_in_one_pass_equals_clv_per_customer(base: Summaries) -> None:
    """score_customers evaluates the horizons and the CLV's period ends in one call: the same CLV as `clv`."""
    rules = Rules()
    mi = model_inputs(base, rules.clv.unit_days)
    has = mi.has_purchase
    fits, _ = fit_models(mi, None, BACKTEST_PURCHASE_MODELS)
    x, t_x, T = mi.x[has], mi.t_x[has], mi.T[has]
    m_x = np.where(x > 0, np.maximum(np.nan_to_num(mi.m_x[has]), 0.0), 0.0)
    for name in ("bgnbd", "mbgnbd", "paretonbd"):
        out = score_customers(fits[name], fits["gammagamma"], x, t_x, T, m_x, horizons_days=(90.0, 365.0))
        want = clv(fits[name], x, t_x, T, out.expected_spend, period_length=(365.25 / 12) / 7.0)
        np.testing.assert_allclose(out.clv, want, rtol=1e-12)
        for h in (90.0, 365.0):
            np.testing.assert_allclose(
                out.expected_purchases[h],
                PURCHASE_MODELS[name].conditional_expected_purchases(fits[name].values(), h / 7.0, x, t_x, T),
                rtol=1e-12,
            )
