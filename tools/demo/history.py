"""A realistic purchase history, deterministic for a seed and a date: customers of a coffee and tea retailer,
each following one persona (loyal, growing, declining, churned, one-off, new), with orders shaped as the
partner API takes them (POST /api/v1/orders/batch) and a few complaints where customers tend to leave.

The personas give every report something to show: lifecycle stages from introduction to churned, ABC
classes and gold customers from the spread of spend, churn and win-back candidates from the declining and
churned, complaints as churn evidence."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

CENT = Decimal("0.01")
PARTNER_PREFIX = "demo"

# (sku, name, unit price) per product line.
CATALOGUE: dict[str, list[tuple[str, str, str]]] = {
    "coffee": [
        ("COF-ESP-1K", "Espresso beans 1 kg", "24.90"),
        ("COF-FIL-500", "Filter roast 500 g", "12.50"),
        ("COF-DEC-500", "Decaf 500 g", "13.90"),
        ("COF-CAP-50", "Capsules x50", "17.00"),
    ],
    "tea": [
        ("TEA-GRN-100", "Sencha 100 g", "9.80"),
        ("TEA-ERL-250", "Earl Grey 250 g", "11.40"),
        ("TEA-CHA-200", "Masala chai 200 g", "10.20"),
    ],
    "equipment": [
        ("EQP-GRD-01", "Burr grinder", "149.00"),
        ("EQP-MOK-06", "Moka pot, 6 cups", "39.00"),
        ("EQP-KET-01", "Gooseneck kettle", "69.00"),
    ],
    "accessories": [
        ("ACC-FLT-100", "Paper filters x100", "4.50"),
        ("ACC-MUG-02", "Ceramic mugs x2", "18.00"),
        ("ACC-CLN-01", "Descaler", "8.90"),
    ],
}
LINE_WEIGHTS = {"coffee": 5, "tea": 3, "accessories": 2, "equipment": 1}
FIRST = ["Ana", "Luis", "Marta", "João", "Claire", "Jonas", "Giulia", "Pieter", "Sofia", "Mateo", "Inès", "Lars"]
LAST = ["García", "Silva", "Martin", "Müller", "Rossi", "de Vries", "López", "Costa", "Bernard", "Schmidt"]
COMPANY = ["Café Central", "Bean & Leaf", "Office Brew", "Tostadero Sur", "Kaffeehaus Nord", "Tea Corner"]
PLACES = [
    ("ES", "Madrid", "Europe/Madrid"),
    ("ES", "Sevilla", "Europe/Madrid"),
    ("PT", "Lisboa", "Europe/Lisbon"),
    ("FR", "Lyon", "Europe/Paris"),
    ("DE", "Hamburg", "Europe/Berlin"),
    ("IT", "Torino", "Europe/Rome"),
    ("NL", "Utrecht", "Europe/Amsterdam"),
]


@dataclass(frozen=True)
class Persona:
    """How a customer buys: when they started and stopped (days before now), how often (mean days between
    orders), how much (quantity scale), and how both drift from one order to the next."""

    name: str
    weight: float
    start_days: tuple[int, int]
    stop_days: tuple[int, int]  # no order after this many days before now
    interval_days: tuple[float, float]
    interval_drift: float = 1.0  # each interval is the previous one times this
    spend_drift: float = 1.0  # each order's quantities are the previous ones times this
    max_orders: int = 200


PERSONAS = (
    Persona("loyal", 0.25, (400, 1100), (0, 20), (25, 45)),
    Persona("growing", 0.12, (150, 360), (0, 15), (40, 70), interval_drift=0.85, spend_drift=1.08),
    Persona("declining", 0.18, (500, 1100), (60, 150), (25, 40), interval_drift=1.18, spend_drift=0.93),
    Persona("churned", 0.20, (600, 1100), (240, 600), (30, 60)),
    Persona("one_off", 0.15, (90, 700), (0, 0), (1, 1), max_orders=1),
    Persona("new", 0.10, (5, 60), (0, 0), (20, 30), max_orders=2),
)


@dataclass
class DemoCustomer:
    external_id: str
    persona: str
    details: dict[str, Any]
    orders: list[dict[str, Any]] = field(default_factory=list)
    complaints: list[dict[str, Any]] = field(default_factory=list)


def generate(customers: int, *, seed: int, now: datetime) -> list[DemoCustomer]:
    """`customers` customers with their orders and complaints; the same seed and now give the same data."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    rng = random.Random(seed)
    weights = [p.weight for p in PERSONAS]
    return [_customer(i, rng.choices(PERSONAS, weights)[0], rng, now) for i in range(customers)]


def _customer(i: int, persona: Persona, rng: random.Random, now: datetime) -> DemoCustomer:
    external_id = f"{PARTNER_PREFIX}-{i:05d}"
    company = rng.random() < 0.1
    country, city, zone = rng.choice(PLACES)
    if company:
        name = f"{rng.choice(COMPANY)} {i}"
        details: dict[str, Any] = {"kind": "company", "company_name": name}
        email = f"orders+{i}@{name.split()[0].lower()}.example.com"
    else:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        details = {"first_name": first, "last_name": last}
        email = f"{_ascii(first)}.{_ascii(last)}.{i}@example.com"
    details |= {
        "external_id": external_id,
        "email": email,
        "phone": f"+34{rng.randint(600_000_000, 699_999_999)}",
        "address": {"city": city, "country": country},
        "time_zone": zone,
    }
    customer = DemoCustomer(external_id, persona.name, details)
    lines = rng.sample(list(LINE_WEIGHTS), k=rng.choice([1, 1, 2, 2, 3]), counts=list(LINE_WEIGHTS.values()))
    scale = rng.lognormvariate(0, 0.6) * (4 if company else 1)  # a wide spread: ABC classes and gold customers
    when = now - timedelta(days=rng.uniform(*persona.start_days))
    last_day = now - timedelta(days=rng.uniform(*persona.stop_days))
    interval = rng.uniform(*persona.interval_days)
    n, first_scale = 0, scale
    while n < persona.max_orders and (n == 0 or when <= last_day):
        customer.orders.append(_order(customer, n, when, lines, scale, company, rng))
        n += 1
        # Drifts within bounds: a growing customer settles at weekly orders of thrice the first basket.
        interval = max(7.0, interval * persona.interval_drift)
        scale = min(3 * first_scale, scale * persona.spend_drift)
        when += timedelta(days=max(1.0, rng.gammavariate(8, interval / 8)))  # regular, not clockwork
    if persona.name in {"declining", "churned"} and rng.random() < 0.3:
        customer.complaints = [_complaint(customer, rng, now)]
    return customer


def _order(
    customer: DemoCustomer, n: int, when: datetime, lines: list[str], scale: float, company: bool, rng: random.Random
) -> dict[str, Any]:
    items = []
    for line in rng.sample(lines, k=rng.randint(1, len(lines))):
        sku, name, price = rng.choice(CATALOGUE[line])
        quantity = max(1, round(rng.uniform(1, 3) * scale))
        items.append({"sku": sku, "name": name, "product_line": line, "quantity": str(quantity), "unit_price": price})
    amount = sum((Decimal(i["quantity"]) * Decimal(i["unit_price"]) for i in items), Decimal(0)).quantize(CENT)
    order: dict[str, Any] = {
        "external_id": f"{customer.external_id}-{n:04d}",
        "ordered_at": when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "currency": "EUR",
        "amount": str(amount),
        "payment_method": "invoice" if company else rng.choice(["card", "card", "wallet", "direct_debit"]),
        "channel": rng.choice(["web", "web", "mobile_app", "store", "phone"]),
        "lines": items,
        # The first order introduces the customer; later ones only name the reference.
        "customer": customer.details if n == 0 else {"external_id": customer.external_id},
    }
    return order


def _complaint(customer: DemoCustomer, rng: random.Random, now: datetime) -> dict[str, Any]:
    last = datetime.fromisoformat(customer.orders[-1]["ordered_at"])
    opened = min(now - timedelta(days=1), last + timedelta(days=rng.uniform(2, 20)))
    category, subject = rng.choice(
        [
            ("price", "Prices went up again"),
            ("delivery", "Order arrived two weeks late"),
            ("product_quality", "Beans tasted stale"),
            ("service", "Nobody answered my emails"),
        ]
    )
    return {
        "category": category,
        "severity": rng.choice(["low", "medium", "high"]),
        "channel": rng.choice(["email", "phone", "web"]),
        "subject": subject,
        "opened_at": opened.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    }


def _ascii(name: str) -> str:
    table = str.maketrans("áàâãäçéèêëíîïñóôõöúüß ", "aaaaaceeeeiiinoooouus-")
    return name.lower().translate(table)


def orders_by_time(customers: list[DemoCustomer]) -> list[dict[str, Any]]:
    """Every order, oldest first (as a shop would have sent them), each customer's first one first."""
    return sorted((o for c in customers for o in c.orders), key=lambda o: (o["ordered_at"], o["external_id"]))
