"""The purchase copy's shared statements: the customer attributes the event handlers and the rebuild write,
and the merge-chain walk every reader of a customer id resolves through."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Protocol

import asyncpg

_UPSERT_ATTRIBUTES = """
INSERT INTO known_customers AS k (customer_id, payment_terms, brand_contribution, declared_budget, share_of_wallet)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::numeric[], $5::numeric[])
ON CONFLICT (customer_id) DO UPDATE SET
    payment_terms = EXCLUDED.payment_terms, brand_contribution = EXCLUDED.brand_contribution,
    declared_budget = EXCLUDED.declared_budget, share_of_wallet = EXCLUDED.share_of_wallet, updated_at = now()
"""


# Merges keep chains one hop long (a merge repoints the ids merged into the merged customer); the bound only
# guards against bad data (a cycle).
MAX_MERGE_HOPS = 8
_SURVIVORS = """
WITH RECURSIVE chain (customer_id, survivor, hops) AS (
    SELECT id, id, 0 FROM unnest($1::uuid[]) AS id
    UNION ALL
    SELECT c.customer_id, k.merged_into, c.hops + 1
    FROM chain c JOIN known_customers k ON k.customer_id = c.survivor
    WHERE k.merged_into IS NOT NULL AND c.hops < $2
)
SELECT DISTINCT ON (customer_id) customer_id, survivor FROM chain ORDER BY customer_id, hops DESC
"""


async def survivors(conn: asyncpg.Connection, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Each id -> the customer its purchases and scores belong to: the end of its merged_into chain (the id
    itself when it was not merged, or is not known), in one round trip."""
    rows = await conn.fetch(_SURVIVORS, list(ids), MAX_MERGE_HOPS)
    return {r["customer_id"]: r["survivor"] for r in rows}


class ScoreAttributes(Protocol):
    """A customer's attributes the composite score reads, as the customer service's events and customer
    list carry them."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def payment_terms(self) -> str | None: ...
    @property
    def brand_contribution(self) -> str | None: ...
    @property
    def declared_budget(self) -> Decimal | None: ...
    @property
    def share_of_wallet(self) -> Decimal | None: ...


async def upsert_attributes(conn: asyncpg.Connection, customers: Sequence[ScoreAttributes]) -> None:
    """Store the composite score's attributes of customers."""
    if not customers:
        return
    await conn.execute(
        _UPSERT_ATTRIBUTES,
        [c.id for c in customers],
        [c.payment_terms for c in customers],
        [c.brand_contribution for c in customers],
        [c.declared_budget for c in customers],
        [c.share_of_wallet for c in customers],
    )
