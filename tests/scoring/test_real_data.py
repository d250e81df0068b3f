"""The scores on a real retail history (CDNOW, 23,570 customers, 1997-1998) pushed into the purchase copy and
backtested through the batch as an analyst would: fitted on the first 39 weeks, judged on the next 39. The churn
risk the run gives (its signal chosen on the 39 weeks alone) must rank the customers who then bought nothing
better than the naive baselines: days since the last purchase, and minus the scoring model's expected
purchases over the window. Skipped when the data set cannot be fetched (tests/scoring/datasets.py)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal

from crm_scoring.batch.runner import run_batch
from tests.scoring.datasets import cdnow_master
from tests.scoring.helpers import load_purchases

AS_OF = datetime(1997, 10, 1, tzinfo=UTC)  # 39 weeks after 1997-01-01
UNTIL = datetime(1998, 7, 1, tzinfo=UTC)


def cdnow_orders() -> list[tuple]:
    """(order id, customer id, ordered_at, amount) per line; lines of a day are one purchase day anyway."""
    rows = []
    for line in cdnow_master().read_text().splitlines()[1:]:
        customer, day, _, dollars = line.split()
        at = datetime.combine(date(int(day[:4]), int(day[4:6]), int(day[6:])), time(12), UTC)
        rows.append((uuid.uuid4(), uuid.UUID(int=int(customer)), at, Decimal(dollars)))
    return rows


async def test_on_cdnow_the_churn_risk_beats_recency_and_expected_purchases(db, engine, settings) -> None:
    await load_purchases(db, cdnow_orders(), currency="USD")
    # 39 weeks of history: the choice needs a horizon shorter than that (the default year would leave none).
    await db.execute(
        "UPDATE rule_sets SET rules = $1::jsonb WHERE name = 'churn'",
        json.dumps({"horizon_days": 90, "signal": "auto", "validation_share": 0.3}),
    )
    await db.execute(  # a US retailer: its dollars are its reporting currency
        "UPDATE rule_sets SET rules = $1::jsonb WHERE name = 'tenant'",
        json.dumps({"reporting_currency": "USD", "time_zone": "UTC"}),
    )
    result = await run_batch(engine, settings, as_of=AS_OF, until=UNTIL, store=False)
    backtest, selection = result.stats["backtest"], result.stats["selection"]
    assert backtest["buyers"] == 23_570
    assert result.stats["money"]["unconverted_orders"] == 0
    baseline = backtest["models"]["mbgnbd"]["minus_expected_purchases_auc"]
    print(  # the figures of the closing note (pytest -s)
        f"\nCDNOW: churn signal {selection['churn_signal']} AUC {backtest['churn_auc']:.4f}; recency "
        f"{backtest['recency_auc']:.4f}; minus MBG/NBD expected purchases {baseline:.4f}; candidates on the "
        f"split before as_of {selection['evidence']['auc']} (z over the default "
        f"{selection['evidence']['z_over_default']}, needed {selection['evidence']['z_needed']}); "
        f"purchase model {selection['purchase_model']} "
        f"(split errors {selection['evidence']['holdout_error']}); window errors "
        f"{ {m: f['holdout_error'] for m, f in backtest['models'].items()} }"
    )
    assert backtest["churn_auc"] > backtest["recency_auc"] + 0.005
    assert backtest["churn_auc"] > baseline
    # The expected purchases the run gave come from the model it chose on the split, and over the real
    # window they are within 20% of the purchases made.
    assert backtest["purchase_model"] == selection["purchase_model"]
    assert abs(backtest["models"][selection["purchase_model"]]["holdout_error"]) < 0.2
