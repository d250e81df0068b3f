"""Deterministic random assignment: a customer's draw is md5(seed ':' customer id) as a number in [0, 1),
the same in SQL (set-based, for launches) and in Python (to check a split or explain one customer's group).
A campaign's seed makes its split reproducible and independent of every other campaign's; a global holdout
uses its own seed, so one customer's draws in different splits are independent."""

from __future__ import annotations

import hashlib
import uuid

BITS = 52  # 13 hex digits: exact in a float8


def unit(seed: int, customer_id: uuid.UUID) -> float:
    digest = hashlib.md5(f"{seed}:{customer_id}".encode(), usedforsecurity=False).hexdigest()
    return int(digest[: BITS // 4], 16) / 2**BITS


def unit_sql(seed: str, customer_id: str) -> str:
    """The same draw as a SQL expression over a seed and a customer id expression."""
    return (
        f"(('x' || substr(md5(CAST({seed} AS text) || ':' || CAST({customer_id} AS text)), 1, {BITS // 4}))"
        f"::bit({BITS})::bigint::float8 / {float(2**BITS)})"
    )
