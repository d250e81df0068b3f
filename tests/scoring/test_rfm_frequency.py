"""RFM's F counts purchase days, as the lifecycle stages and the purchase models do (issue 12, finding 8): a
customer who placed six big orders on one day is F 1 and "one purchase day so far", not a champion; the F of
every customer is the hand-computed quintile of its purchase days; the API names the basis beside the
summary's order and purchase-day counts."""

import math
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from crm_scoring.batch.runner import run_batch
from tests.scoring.helpers import load_purchases

NOW = datetime.now(UTC).replace(microsecond=0)
URL = "/api/v1/scores/customers"
# Purchase days of the nine other customers (one small order a day, the last 20+ days ago).
OTHERS = [1, 1, 2, 2, 3, 3, 4, 4, 5]


def hand_quintiles(values: list[int]) -> dict[int, int]:
    """value -> ceil(5 * average rank / n), ranks 1..n ascending (value/rfm.py's rule), worked by hand."""
    ordered = sorted(values)
    n = len(ordered)
    out = {}
    for v in set(ordered):
        ranks = [i + 1 for i, w in enumerate(ordered) if w == v]
        out[v] = math.ceil(5 * (sum(ranks) / len(ranks)) / n)
    return out


async def test_six_orders_on_one_day_are_one_purchase_day_for_rfm_and_lifecycle(reader, db, engine, settings):
    bulk = uuid.uuid4()
    day = NOW - timedelta(days=2)
    orders = [(uuid.uuid4(), bulk, day + timedelta(minutes=i), Decimal("500.00")) for i in range(6)]
    others = {uuid.uuid4(): days for days in OTHERS}
    for c, days in others.items():
        orders += [(uuid.uuid4(), c, NOW - timedelta(days=20 + 30 * k), Decimal("20.00")) for k in range(days)]
    await load_purchases(db, orders)
    await run_batch(engine, settings, as_of=NOW)

    # By hand: purchase days 1,1,1,2,2,3,3,4,4,5 -> average ranks 2, 4.5, 6.5, 8.5, 10 -> F 1, 3, 4, 5, 5.
    expected = hand_quintiles([1, *OTHERS])
    assert expected == {1: 1, 2: 3, 3: 4, 4: 5, 5: 5}
    body = (await reader.get(f"{URL}/{bulk}")).json()
    assert (body["summary"]["order_count"], body["summary"]["purchase_days"]) == (6, 1)
    assert body["rfm"]["frequency_basis"] == "purchase_days"
    # Most recent and biggest spender: R 5 and M 5, but F 1 (by orders it would have been F 5, a champion).
    assert (body["rfm"]["r"], body["rfm"]["f"], body["rfm"]["m"]) == (5, expected[1], 5)
    assert body["rfm"]["segment"] == "new_customers"  # R 5, F 1 in the default segment rules
    assert body["lifecycle"]["stage"] == "introduction"
    assert "one purchase day" in body["lifecycle"]["reason"]
    for c, days in others.items():
        one = (await reader.get(f"{URL}/{c}")).json()
        assert one["rfm"]["f"] == expected[days], (days, one["rfm"])
    # The list and the explanation say the same.
    listed = {i["customer_id"]: i for i in (await reader.get(URL, params={"limit": 20})).json()["items"]}
    assert listed[str(bulk)]["f"] == 1
    assert listed[str(bulk)]["rfm_segment"] != "champions"
    explained = (await reader.get(f"{URL}/{bulk}/explain")).json()["rfm"]
    assert explained == body["rfm"]
