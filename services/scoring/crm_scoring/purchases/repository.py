"""Writes to the purchase copy shared by the event handlers and the rebuild."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import asyncpg

_UPSERT_ATTRIBUTES = """
INSERT INTO known_customers AS k (customer_id, payment_terms, brand_contribution, declared_budget, share_of_wallet)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::numeric[], $5::numeric[])
ON CONFLICT (customer_id) DO UPDATE SET
    payment_terms = EXCLUDED.payment_terms, brand_contribution = EXCLUDED.brand_contribution,
    declared_budget = EXCLUDED.declared_budget, share_of_wallet = EXCLUDED.share_of_wallet, updated_at = now()
"""


def money(value: Any) -> Decimal | None:
    """A decimal string from an event or the API (None stays None)."""
    return None if value is None else Decimal(str(value))


async def upsert_attributes(conn: asyncpg.Connection, customers: Sequence[Mapping[str, Any]]) -> None:
    """Store the composite score's attributes of customers as the customer service renders them
    (`CustomerRead`: `id`, `payment_terms`, `brand_contribution`, `declared_budget`, `share_of_wallet`)."""
    if not customers:
        return
    await conn.execute(
        _UPSERT_ATTRIBUTES,
        [uuid.UUID(str(c["id"])) for c in customers],
        [c.get("payment_terms") for c in customers],
        [c.get("brand_contribution") for c in customers],
        [money(c.get("declared_budget")) for c in customers],
        [money(c.get("share_of_wallet")) for c in customers],
    )
