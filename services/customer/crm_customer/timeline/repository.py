"""The timeline query: one UNION ALL over orders, complaints, their status changes, interactions and
consent records, keyset-filtered, ordered and limited in SQL (per branch, then overall)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

# kind -> SELECT producing (at, kind, id, summary, data) for customer $1. Constants only: the kinds a
# request asks for pick branches, never text.
_BRANCHES = {
    "order_created": """
        SELECT o.ordered_at AS at, 'order_created' AS kind, o.id::text AS id,
               format('Order %s: %s %s', o.external_id, o.amount, o.currency) AS summary,
               jsonb_build_object('order_id', o.id, 'partner', o.partner, 'external_id', o.external_id,
                                  'amount', o.amount::text, 'currency', o.currency, 'status', o.status,
                                  'channel', o.channel) AS data
        FROM orders o WHERE o.customer_id = $1""",
    "order_cancelled": """
        SELECT o.cancelled_at, 'order_cancelled', o.id::text,
               format('Order %s cancelled', o.external_id) || coalesce(': ' || o.cancel_reason, ''),
               jsonb_build_object('order_id', o.id, 'partner', o.partner, 'external_id', o.external_id,
                                  'amount', o.amount::text, 'currency', o.currency, 'reason', o.cancel_reason)
        FROM orders o WHERE o.customer_id = $1 AND o.status = 'cancelled' AND o.cancelled_at IS NOT NULL""",
    "order_refunded": """
        SELECT o.updated_at, 'order_refunded', o.id::text,
               format('Order %s refunded: %s of %s %s', o.external_id, o.refunded_amount, o.amount, o.currency),
               jsonb_build_object('order_id', o.id, 'partner', o.partner, 'external_id', o.external_id,
                                  'amount', o.amount::text, 'refunded_amount', o.refunded_amount::text,
                                  'currency', o.currency, 'status', o.status)
        FROM orders o WHERE o.customer_id = $1 AND o.status IN ('refunded', 'partially_refunded')""",
    "complaint_opened": """
        SELECT c.opened_at, 'complaint_opened', c.id::text,
               format('Complaint #%s opened (%s): %s', c.number, c.severity, c.subject),
               jsonb_build_object('complaint_id', c.id, 'number', c.number, 'category', c.category_key,
                                  'severity', c.severity, 'channel', c.channel, 'status', c.status)
        FROM complaints c WHERE c.customer_id = $1""",
    "complaint_status_changed": """
        SELECT s.changed_at, 'complaint_status_changed', s.id::text,
               format('Complaint #%s: %s -> %s', c.number, coalesce(s.from_status, 'new'), s.to_status),
               jsonb_build_object('complaint_id', c.id, 'number', c.number, 'from_status', s.from_status,
                                  'to_status', s.to_status, 'note', s.note, 'changed_by', s.changed_by)
        FROM complaint_status_changes s JOIN complaints c ON c.id = s.complaint_id
        WHERE c.customer_id = $1 AND NOT (s.from_status IS NULL AND s.to_status = 'open')""",
    "interaction": """
        SELECT i.occurred_at, 'interaction', i.id::text,
               format('%s %s', initcap(i.direction), i.channel) || coalesce(': ' || i.subject, ''),
               jsonb_build_object('interaction_id', i.id, 'channel', i.channel, 'direction', i.direction,
                                  'subject', i.subject, 'outcome', i.outcome, 'staff', i.staff,
                                  'contact_id', i.contact_id)
        FROM interactions i WHERE i.customer_id = $1""",
    "consent_changed": """
        SELECT r.recorded_at, 'consent_changed', r.id::text,
               CASE r.status WHEN 'opted_in' THEN 'Opted in to ' ELSE 'Opted out of ' END
                   || r.channel || ' (' || r.source || ')',
               jsonb_build_object('channel', r.channel, 'status', r.status, 'source', r.source)
        FROM consent_records r WHERE r.customer_id = $1""",
}
_ORDER = "ORDER BY at DESC, kind DESC, id DESC LIMIT $5"
_KEYSET = "($2::timestamptz IS NULL OR (at, kind, id) < ($2, $3::text, $4::text))"


def timeline_sql(kinds: Sequence[str]) -> str:
    branches = [
        f"(SELECT * FROM ({_BRANCHES[k]}) b(at, kind, id, summary, data) WHERE {_KEYSET} {_ORDER})" for k in kinds
    ]
    return f"SELECT at, kind, id, summary, data::text AS data FROM ({' UNION ALL '.join(branches)}) t {_ORDER}"


async def page(
    conn: asyncpg.Connection,
    customer_id: uuid.UUID,
    kinds: Sequence[str],
    after: Sequence[Any] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """`limit` entries after the (at, kind, id) `after`, newest first."""
    at, kind, entry_id = after or (None, None, None)
    return await conn.fetch(timeline_sql(kinds), customer_id, at, kind, entry_id, limit)
