"""Every write to the audience read model: set-based upserts shared by the event handlers and the bulk
sync (arrays of column values in, one statement out). Customer rows are ordered by the customer service's
row version and scores by their `as_of`, so a late or repeated delivery never overwrites newer data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

UPSERT_CUSTOMERS = """
INSERT INTO audience_customers AS t (customer_id, kind, display_name, first_name, last_name, email, phone,
    region, country, preferred_channel, max_contacts_per_month, time_zone, merged_into, customer_since,
    customer_version)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::text[], $9::text[], $10::text[], $11::int[], $12::text[], $13::uuid[], $14::timestamptz[], $15::int[])
ON CONFLICT (customer_id) DO UPDATE SET
    kind = EXCLUDED.kind, display_name = EXCLUDED.display_name, first_name = EXCLUDED.first_name,
    last_name = EXCLUDED.last_name, email = EXCLUDED.email, phone = EXCLUDED.phone, region = EXCLUDED.region,
    country = EXCLUDED.country, preferred_channel = EXCLUDED.preferred_channel,
    max_contacts_per_month = EXCLUDED.max_contacts_per_month, time_zone = EXCLUDED.time_zone,
    merged_into = coalesce(EXCLUDED.merged_into, t.merged_into), customer_since = EXCLUDED.customer_since,
    customer_version = EXCLUDED.customer_version, updated_at = now()
WHERE t.customer_version <= EXCLUDED.customer_version
"""
CUSTOMER_COLUMNS = (
    "customer_id", "kind", "display_name", "first_name", "last_name", "email", "phone", "region", "country",
    "preferred_channel", "max_contacts_per_month", "time_zone", "merged_into", "customer_since",
    "customer_version",
)  # fmt: skip

UPSERT_SCORES = """
INSERT INTO audience_customers AS t (customer_id, stage, abc_class, rfm_segment, gold, drag, clv, p_alive,
    churn_risk, composite_score, scores_as_of)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::bool[], $7::numeric[],
    $8::float8[], $9::float8[], $10::numeric[], $11::timestamptz[])
ON CONFLICT (customer_id) DO UPDATE SET
    stage = coalesce(EXCLUDED.stage, t.stage), abc_class = EXCLUDED.abc_class, rfm_segment = EXCLUDED.rfm_segment,
    gold = EXCLUDED.gold, drag = EXCLUDED.drag, clv = EXCLUDED.clv, p_alive = EXCLUDED.p_alive,
    churn_risk = EXCLUDED.churn_risk, composite_score = EXCLUDED.composite_score,
    scores_as_of = EXCLUDED.scores_as_of, updated_at = now()
WHERE t.scores_as_of IS NULL OR t.scores_as_of <= EXCLUDED.scores_as_of
"""
SCORE_COLUMNS = (
    "customer_id", "stage", "abc_class", "rfm_segment", "gold", "drag", "clv", "p_alive", "churn_risk",
    "composite_score", "scores_as_of",
)  # fmt: skip

SET_STAGE = """
INSERT INTO audience_customers AS t (customer_id, stage)
SELECT * FROM unnest($1::uuid[], $2::text[])
ON CONFLICT (customer_id) DO UPDATE SET stage = EXCLUDED.stage, updated_at = now()
"""

# One statement per channel keeps the column name out of the parameters (it is one of four literals).
SET_CONSENT = """
INSERT INTO audience_customers AS t (customer_id, consent_{channel}, consent_{channel}_at)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[])
ON CONFLICT (customer_id) DO UPDATE SET consent_{channel} = EXCLUDED.consent_{channel},
    consent_{channel}_at = EXCLUDED.consent_{channel}_at, updated_at = now()
WHERE t.consent_{channel}_at IS NULL OR t.consent_{channel}_at <= EXCLUDED.consent_{channel}_at
"""

SET_PREFERENCES = """
INSERT INTO audience_customers AS t (customer_id, preferred_channel, max_contacts_per_month, customer_version)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::int[])
ON CONFLICT (customer_id) DO UPDATE SET preferred_channel = EXCLUDED.preferred_channel,
    max_contacts_per_month = EXCLUDED.max_contacts_per_month,
    customer_version = greatest(t.customer_version, EXCLUDED.customer_version), updated_at = now()
WHERE t.customer_version <= EXCLUDED.customer_version
"""

ADD_TAGS = """
INSERT INTO audience_customers AS t (customer_id, tags)
SELECT customer_id, array_agg(DISTINCT tag) FROM unnest($1::uuid[], $2::text[]) AS u(customer_id, tag)
GROUP BY customer_id
ON CONFLICT (customer_id) DO UPDATE SET
    tags = ARRAY(SELECT DISTINCT x FROM unnest(t.tags || EXCLUDED.tags) AS x ORDER BY 1), updated_at = now()
"""
REMOVE_TAG = "UPDATE audience_customers SET tags = array_remove(tags, $2), updated_at = now() WHERE customer_id = $1"
SET_TAGS = """
UPDATE audience_customers t SET tags = u.tags, updated_at = now()
FROM (SELECT customer_id, array_agg(DISTINCT tag ORDER BY tag) AS tags
      FROM unnest($1::uuid[], $2::text[]) AS u(customer_id, tag) GROUP BY customer_id) u
WHERE t.customer_id = u.customer_id
"""
CLEAR_TAGS = "UPDATE audience_customers SET tags = '{}' WHERE tags <> '{}'"

MARK_MERGED = """
INSERT INTO audience_customers AS t (customer_id, merged_into)
SELECT * FROM unnest($1::uuid[], $2::uuid[])
ON CONFLICT (customer_id) DO UPDATE SET merged_into = EXCLUDED.merged_into, updated_at = now()
"""


def columns(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> list[list[Any]]:
    """Row dicts as one list per column, the shape unnest() takes."""
    return [[row.get(name) for row in rows] for name in names]


_pg_zones: frozenset[str] | None = None


async def known_zones(conn: asyncpg.Connection) -> frozenset[str]:
    """The zone names this PostgreSQL knows, read once (pg_timezone_names scans its tz files: ~50 ms)."""
    global _pg_zones
    if _pg_zones is None:
        _pg_zones = frozenset(r[0] for r in await conn.fetch("SELECT name FROM pg_timezone_names"))
    return _pg_zones


async def upsert_customers(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    # The customer service checks zones against Python's tz database, which may be newer than this server's;
    # a name PostgreSQL does not know would fail every launch's AT TIME ZONE: keep it as unknown (the default).
    zones = await known_zones(conn)
    rows = [r if r.get("time_zone") in zones or r.get("time_zone") is None else {**r, "time_zone": None} for r in rows]
    await conn.execute(UPSERT_CUSTOMERS, *columns(rows, CUSTOMER_COLUMNS))


async def upsert_scores(conn: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(UPSERT_SCORES, *columns(rows, SCORE_COLUMNS))


async def set_consents(conn: asyncpg.Connection, channel: str, rows: Sequence[tuple[Any, str, datetime]]) -> None:
    """(customer id, status, effective at) per customer."""
    if channel not in ("email", "sms", "mail", "phone"):
        raise ValueError(channel)
    if rows:
        columns = [list(c) for c in zip(*rows, strict=True)]
        await conn.execute(SET_CONSENT.format(channel=channel), *columns)
