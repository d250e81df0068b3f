"""`make demo`'s data (tools/demo): the same for a seed and a day, accepted whole by the API's own order and
complaint validation, and shaped as its personas promise. No running suite needed."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
import pytest

from crm_customer.complaints.schemas import ComplaintOpen
from crm_customer.orders.validation import decode_rows, split_batch
from tools.demo.history import PERSONAS, DemoCustomer, generate, orders_by_time

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def customers() -> list[DemoCustomer]:
    return generate(1500, seed=3, now=NOW)


def test_the_same_seed_and_day_give_the_same_data(customers: list[DemoCustomer]) -> None:
    assert generate(1500, seed=3, now=NOW) == customers
    assert orders_by_time(generate(200, seed=4, now=NOW)) != orders_by_time(customers[:200])
    with pytest.raises(ValueError, match="timezone"):
        generate(1, seed=1, now=NOW.replace(tzinfo=None))


def test_every_order_and_complaint_passes_the_apis_validation(customers: list[DemoCustomer]) -> None:
    orders = orders_by_time(customers)
    for start in range(0, len(orders), 5000):
        valid, rejected = decode_rows(split_batch(msgspec.json.encode({"orders": orders[start : start + 5000]})))
        assert rejected == []
        assert len(valid) == len(orders[start : start + 5000])
    complaints = [c for customer in customers for c in customer.complaints]
    assert complaints
    for complaint in complaints:
        ComplaintOpen.model_validate({**complaint, "customer_id": str(uuid.uuid4())})


def test_orders_introduce_their_customer_first_and_add_up(customers: list[DemoCustomer]) -> None:
    orders = orders_by_time(customers)
    assert len({o["external_id"] for o in orders}) == len(orders)
    introduced: set[str] = set()
    for order in orders:  # the push order: a customer's details come with its first order
        ref = order["customer"]["external_id"]
        assert ("first_name" in order["customer"] or "company_name" in order["customer"]) == (ref not in introduced)
        introduced.add(ref)
        lines = sum(Decimal(line["quantity"]) * Decimal(line["unit_price"]) for line in order["lines"])
        assert Decimal(order["amount"]) == lines
        assert datetime.fromisoformat(order["ordered_at"]) <= NOW


def days_since_last_order(customer: DemoCustomer) -> float:
    return (NOW - datetime.fromisoformat(customer.orders[-1]["ordered_at"])) / timedelta(days=1)


def test_the_personas_behave_as_named(customers: list[DemoCustomer]) -> None:
    by: dict[str, list[DemoCustomer]] = {}
    for customer in customers:
        by.setdefault(customer.persona, []).append(customer)
    counts = Counter({p: len(cs) for p, cs in by.items()})
    for persona in PERSONAS:  # each near its share of 1,500 (binomial: within 4 standard deviations)
        sd = (1500 * persona.weight * (1 - persona.weight)) ** 0.5
        assert abs(counts[persona.name] - 1500 * persona.weight) < 4 * sd, persona.name
    assert all(days_since_last_order(c) >= 240 for c in by["churned"])
    assert all(days_since_last_order(c) <= 100 for c in by["loyal"])  # within about two of their gaps
    assert all(len(c.orders) == 1 for c in by["one_off"])
    assert all(days_since_last_order(c) <= 60 for c in by["new"])
    # Declining customers order less and less often: their last gap is longer than their first.
    gaps = [
        (datetime.fromisoformat(c.orders[-1]["ordered_at"]) - datetime.fromisoformat(c.orders[-2]["ordered_at"]))
        > (datetime.fromisoformat(c.orders[1]["ordered_at"]) - datetime.fromisoformat(c.orders[0]["ordered_at"]))
        for c in by["declining"]
        if len(c.orders) >= 3
    ]
    assert sum(gaps) / len(gaps) > 0.8
    # Complaints only where customers tend to leave, and after their purchases began.
    assert {c.persona for c in customers if c.complaints} <= {"declining", "churned"}
    # A Pareto-like spread of spend: the top fifth of customers brings most of the revenue.
    spend = sorted((sum(Decimal(o["amount"]) for o in c.orders) for c in customers), reverse=True)
    assert sum(spend[: len(spend) // 5]) > Decimal("0.5") * sum(spend)
