"""The churn risk chosen by evidence (selection/): candidates judged on a split of the history one horizon back,
on data drawn from MBG/NBD (where the true model is the best possible ranking), and the choice stored with
the calibration so events score exactly as the batch did."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from skops.io.exceptions import UntrustedTypesFoundException
from sqlalchemy import text

from crm_scoring.batch.runner import run_batch
from crm_scoring.clv import mbgnbd
from crm_scoring.compute.fitting import BACKTEST_PURCHASE_MODELS, fit_models
from crm_scoring.compute.incremental import rescore
from crm_scoring.compute.model_inputs import model_inputs
from crm_scoring.compute.summary import Summaries, aggregate, day_number
from crm_scoring.rules.schemas import Churn
from crm_scoring.selection import classifier
from crm_scoring.selection.apply import churn_risk
from crm_scoring.selection.choose import choose
from crm_scoring.selection.ranking import auc
from crm_scoring.selection.split import purchase_days_after
from crm_shared.db import create_sessionmaker
from tests.scoring.helpers import load_purchases, mbgnbd_orders

END = datetime(2026, 6, 30, tzinfo=UTC)
WINDOW = 180  # the future the chosen risk is judged on, after "now"
TRUE = (0.9, 40.0, 1.6, 14.0)  # r, alpha (days), a, b of tests/scoring/helpers.mbgnbd_orders


def summaries(orders: list[tuple], as_of: datetime) -> Summaries:
    """Buyers' summaries as of a date, from (order id, customer id, ordered_at, amount) rows."""
    kept = [o for o in orders if o[2] <= as_of]
    ids = np.frombuffer(b"".join(o[1].bytes for o in kept), dtype="V16")
    at = np.array([o[2].timestamp() for o in kept])
    net = np.array([float(o[3]) for o in kept])
    keys, agg = aggregate(ids, at, net, day_number(as_of), 180)
    return Summaries({"customer_id": keys, **agg}, as_of, day_number(as_of))


@pytest.fixture(scope="module")
def drawn() -> tuple[Summaries, Summaries, Summaries]:
    """(then, now, later) on 6,000 customers drawn from MBG/NBD: now = END - WINDOW, then = now - 90 days."""
    orders = mbgnbd_orders(6000, 11, END, WINDOW)
    now = END - timedelta(days=WINDOW)
    return summaries(orders, now - timedelta(days=90)), summaries(orders, now), summaries(orders, END)


def _chosen_risk(then: Summaries, now: Summaries, rules: Churn) -> tuple[np.ndarray, str, dict]:
    fits_then, _ = fit_models(model_inputs(then, 7.0), None, BACKTEST_PURCHASE_MODELS, spend=False)
    choice, notes = choose(then, now, fits_then, rules, 7.0)
    assert choice is not None, notes
    fits_now, _ = fit_models(model_inputs(now, 7.0), None, BACKTEST_PURCHASE_MODELS, spend=False)
    risk, used = churn_risk(
        now, model_inputs(now, 7.0), fits_now, choice.selection, choice.classifier, horizon_days=90, unit_days=7.0
    )
    assert used == choice.selection.churn_signal
    return risk, used, choice.selection.evidence


def test_on_data_drawn_from_mbgnbd_the_chosen_risk_does_not_lose_to_the_true_model(drawn) -> None:
    then, now, later = drawn
    risk, used, evidence = _chosen_risk(then, now, Churn())
    quiet = purchase_days_after(now, later) == 0
    buyers = now["n_days"] > 0
    mi = model_inputs(now, 1.0)  # days: the true parameters' unit
    truth = mbgnbd.p_no_purchase(TRUE, WINDOW, mi.x[buyers], mi.t_x[buyers], mi.T[buyers])
    recency = (now.as_of_day - now["last_day"][buyers]).astype(float)
    chosen, best, naive = auc(risk[buyers], quiet[buyers]), auc(truth, quiet[buyers]), auc(recency, quiet[buyers])
    assert chosen is not None
    assert best is not None
    assert naive is not None
    assert chosen >= best - 0.01, (used, chosen, best)
    assert chosen > naive
    # The evidence names every candidate it judged and the naive baseline beside them.
    assert {"mbgnbd.p_no_purchase", "paretonbd.p_no_purchase", "classifier", "blend"} <= set(evidence["auc"])
    # The default stays unless a candidate beats it beyond chance, and then the best of those is used.
    assert evidence["default"] == "mbgnbd.p_no_purchase"
    better = [n for n, z in evidence["z_over_default"].items() if z > evidence["z_needed"]]
    assert used == (max(better, key=lambda n: evidence["auc"][n]) if better else evidence["default"])
    assert evidence["z_needed"] > 1.645  # one-sided 5%, spread over the candidates
    assert evidence["recency_auc"] is not None
    assert evidence["held_out_buyers"] + evidence["training_buyers"] == int((then["n_days"] > 0).sum())
    assert set(evidence["holdout_error"]) == {"bgnbd", "mbgnbd", "paretonbd"}


def test_a_named_signal_is_used_as_named(drawn) -> None:
    then, now, _ = drawn
    _, used, evidence = _chosen_risk(then, now, Churn(signal="paretonbd.p_dropout"))
    assert used == "paretonbd.p_dropout"
    assert "classifier" in evidence["auc"]  # still judged, for the record


def test_a_history_too_short_to_split_keeps_the_fallback(drawn) -> None:
    _, now, _ = drawn
    early = summaries([], now.as_of - timedelta(days=90))  # nobody had bought yet
    fits, _ = fit_models(model_inputs(now, 7.0), None, BACKTEST_PURCHASE_MODELS, spend=False)
    choice, notes = choose(early, now, fits, Churn(), 7.0)
    assert choice is None
    assert "too few to judge" in notes[0]
    risk, used = churn_risk(now, model_inputs(now, 7.0), fits, None, None, horizon_days=90, unit_days=7.0)
    assert used == "mbgnbd.p_no_purchase"
    buyers = now["n_days"] > 0
    assert np.isfinite(risk[buyers]).all()
    assert np.isnan(risk[~buyers]).all()


def test_a_stored_classifier_round_trips_and_nothing_else_loads(drawn) -> None:
    then, now, _ = drawn
    from crm_scoring.selection.features import features

    X = features(then)[then["n_days"] > 0]
    quiet = purchase_days_after(then, now)[then["n_days"] > 0] == 0
    model = classifier.train(X, quiet)
    assert model is not None
    again = classifier.loads(classifier.dumps(model))
    np.testing.assert_array_equal(classifier.p_quiet(again, X), classifier.p_quiet(model, X))
    other = LogisticRegression(max_iter=1000).fit(np.nan_to_num(X) / 100, quiet)
    import skops.io as sio

    with pytest.raises((TypeError, UntrustedTypesFoundException)):
        classifier.loads(sio.dumps(other))
    assert classifier.train(X[:40], quiet[:40]) is None  # too few of either outcome


def test_features_of_some_rows_are_those_rows_of_everyones(drawn) -> None:
    """A batch makes the features of the rows it trains on and judges only: the same numbers."""
    then, _, _ = drawn
    from crm_scoring.selection.features import features

    rows = np.random.default_rng(3).permutation(len(then))[: len(then) // 3]
    np.testing.assert_array_equal(features(then, rows), features(then)[rows])
    quiet = np.random.default_rng(4).random(len(rows)) < 0.4
    picked = classifier.training_rows(quiet)
    assert picked is not None
    X = features(then)[rows]
    trained, fitted = classifier.train(X, quiet), classifier.fit(features(then, rows[picked]), quiet[picked])
    assert trained is not None
    np.testing.assert_array_equal(classifier.p_quiet(trained, X), classifier.p_quiet(fitted, X))


async def test_the_batch_stores_its_choice_and_events_score_with_it(db, engine, settings, reader) -> None:
    orders = mbgnbd_orders(3000, 5, datetime.now(UTC), 0)
    await load_purchases(db, orders)
    await db.execute(
        "UPDATE rule_sets SET rules = $1::jsonb WHERE name = 'churn'",
        json.dumps({"horizon_days": 90, "signal": "blend", "validation_share": 0.3}),
    )
    result = await run_batch(engine, settings)
    selection = result.stats["selection"]
    assert selection["churn_signal"] == "blend"
    assert selection["blend_with"].endswith(".p_no_purchase")
    row = await db.fetchrow(
        "SELECT selection, length(churn_classifier) AS size, as_of FROM calibrations ORDER BY id DESC LIMIT 1"
    )
    assert json.loads(row["selection"])["churn_signal"] == "blend"
    assert row["size"] > 10_000
    before = {
        r["customer_id"]: r["churn_risk"] for r in await db.fetch("SELECT customer_id, churn_risk FROM customer_scores")
    }
    ids = sorted({o[1] for o in orders})[:25]
    classifier.CACHE._items.clear()  # as a freshly started process: the classifier is read from the row
    sessionmaker = create_sessionmaker(engine, subscriptions=settings.subscribers)
    async with sessionmaker() as session, session.begin():
        await session.execute(text("SELECT 1"))
        await rescore(session, ids, as_of=row["as_of"])
    after = {
        r["customer_id"]: r["churn_risk"]
        for r in await db.fetch(
            "SELECT customer_id, churn_risk FROM customer_scores WHERE customer_id = ANY($1::uuid[])", ids
        )
    }
    assert after == pytest.approx({i: before[i] for i in ids}, abs=1e-12)
    body = (await reader.get(f"/api/v1/scores/customers/{ids[0]}")).json()
    assert body["clv"]["churn_signal"] == "blend"
    assert body["clv"]["churn_risk"] == pytest.approx(before[ids[0]])
    assert isinstance(uuid.UUID(body["customer_id"]), uuid.UUID)
