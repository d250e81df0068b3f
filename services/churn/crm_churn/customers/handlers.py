"""Inbox handlers keeping the customer read model (customer_values, customer_orders, customer_complaints)
from customer and scoring events. They run before the records handlers of the same event type
(`combine_handlers` order in main.py), so a record opened by an event sees the value that event brought.

Events may arrive out of order: scores, stages and complaints keep the newest (by `as_of` / complaint
version), order dates keep the earliest first and the latest last order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.inbox import EventHandler
from crm_shared.schemas.common import Payload
from crm_shared.schemas.events import (
    ComplaintEventData,
    CustomerChangedData,
    CustomerMergedData,
    InteractionLoggedData,
    OrderCreatedData,
)
from crm_shared.schemas.scores import LifecycleChangedData, ScoreChangedData

P = TypeVar("P", bound=Payload)

_UPSERT_CUSTOMER = text("""
INSERT INTO customer_values (customer_id, display_name, region, since)
VALUES (:id, :name, :region, :since)
ON CONFLICT (customer_id) DO UPDATE SET display_name = EXCLUDED.display_name, region = EXCLUDED.region,
    since = least(customer_values.since, EXCLUDED.since), updated_at = now()
""")

# risk_since: kept while the risk stays at or over the threshold, set when it first crosses, cleared under it.
_UPSERT_SCORE = text("""
INSERT INTO customer_values AS v (customer_id, clv, abc_class, composite_score, rfm_segment, churn_risk, risk_since,
                                  scored_at)
VALUES (:id, :clv, :abc, :composite, :segment, CAST(:risk AS float8),
        CASE WHEN CAST(:risk AS float8) >= CAST(:threshold AS float8) THEN CAST(:as_of AS timestamptz) END, :as_of)
ON CONFLICT (customer_id) DO UPDATE SET
    clv = coalesce(EXCLUDED.clv, v.clv), abc_class = EXCLUDED.abc_class, composite_score = EXCLUDED.composite_score,
    rfm_segment = EXCLUDED.rfm_segment, churn_risk = coalesce(EXCLUDED.churn_risk, v.churn_risk),
    risk_since = CASE
        WHEN EXCLUDED.churn_risk IS NULL THEN v.risk_since
        WHEN EXCLUDED.churn_risk >= CAST(:threshold AS float8) THEN coalesce(v.risk_since, EXCLUDED.risk_since)
    END,
    scored_at = EXCLUDED.scored_at, updated_at = now()
WHERE v.scored_at IS NULL OR v.scored_at <= EXCLUDED.scored_at
""")

# Only a stage at least as new as the stored one applies (an equal as_of re-applies: redelivery is harmless).
_UPSERT_STAGE = text("""
INSERT INTO customer_values AS v (customer_id, stage, stage_at) VALUES (:id, :stage, :as_of)
ON CONFLICT (customer_id) DO UPDATE SET stage = EXCLUDED.stage, stage_at = EXCLUDED.stage_at, updated_at = now()
WHERE v.stage_at IS NULL OR v.stage_at <= EXCLUDED.stage_at
""")

_INSERT_ORDER = text("""
INSERT INTO customer_orders (order_id, customer_id, ordered_at, amount, currency, channel, product_lines)
VALUES (:order_id, :customer_id, :ordered_at, :amount, :currency, :channel, :lines)
ON CONFLICT (order_id) DO NOTHING
""")

_TOUCH_ORDER = text("""
INSERT INTO customer_values AS v (customer_id, first_order_at, last_order_at, last_order_channel, since)
VALUES (:customer_id, :ordered_at, :ordered_at, :channel, :ordered_at)
ON CONFLICT (customer_id) DO UPDATE SET
    first_order_at = least(v.first_order_at, EXCLUDED.first_order_at),
    last_order_channel = CASE WHEN v.last_order_at IS NULL OR v.last_order_at <= EXCLUDED.last_order_at
                              THEN EXCLUDED.last_order_channel ELSE v.last_order_channel END,
    last_order_at = greatest(v.last_order_at, EXCLUDED.last_order_at),
    since = least(v.since, EXCLUDED.since), updated_at = now()
""")

_UPSERT_COMPLAINT = text("""
INSERT INTO customer_complaints AS c (complaint_id, customer_id, number, category, severity, status, subject,
                                      opened_at, resolved_at, reopen_count, version)
VALUES (:id, :customer_id, :number, :category, :severity, :status, :subject, :opened_at, :resolved_at, :reopens,
        :version)
ON CONFLICT (complaint_id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, category = EXCLUDED.category, severity = EXCLUDED.severity,
    status = EXCLUDED.status, subject = EXCLUDED.subject, resolved_at = EXCLUDED.resolved_at,
    reopen_count = EXCLUDED.reopen_count, version = EXCLUDED.version, updated_at = now()
WHERE c.version < EXCLUDED.version
""")

_TOUCH_INTERACTION = text("""
INSERT INTO customer_values AS v (customer_id, last_interaction_at) VALUES (:id, :at)
ON CONFLICT (customer_id) DO UPDATE SET
    last_interaction_at = greatest(v.last_interaction_at, EXCLUDED.last_interaction_at), updated_at = now()
""")

# The merged customer's orders and complaints move to the survivor; the survivor's order dates follow.
_MERGE = [
    text("""INSERT INTO customer_values (customer_id) VALUES (:survivor), (:merged)
            ON CONFLICT (customer_id) DO NOTHING"""),
    text("UPDATE customer_orders SET customer_id = :survivor WHERE customer_id = :merged"),
    text("UPDATE customer_complaints SET customer_id = :survivor WHERE customer_id = :merged"),
    text("""UPDATE customer_values AS s SET
              first_order_at = least(s.first_order_at, m.first_order_at),
              last_order_at = greatest(s.last_order_at, m.last_order_at),
              last_order_channel = CASE WHEN m.last_order_at > s.last_order_at OR s.last_order_at IS NULL
                                        THEN m.last_order_channel ELSE s.last_order_channel END,
              last_interaction_at = greatest(s.last_interaction_at, m.last_interaction_at),
              since = least(s.since, m.since), updated_at = now()
            FROM customer_values AS m WHERE s.customer_id = :survivor AND m.customer_id = :merged"""),
    text("UPDATE customer_values SET merged_into = :survivor, updated_at = now() WHERE customer_id = :merged"),
]


def decode(events: list[dict[str, Any]], kind: type[P]) -> list[P]:
    """The events' payloads as their contract's Struct; a malformed one raises (-> dead letter)."""
    return [msgspec.convert(e["data"], kind) for e in events]


async def customer_changed(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    for d in decode(events, CustomerChangedData):
        c = d.customer
        region = c.address.region if c.address else None
        await session.execute(
            _UPSERT_CUSTOMER, {"id": c.id, "name": c.display_name[:300], "region": region, "since": c.created_at}
        )


async def customer_merged(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    for d in decode(events, CustomerMergedData):
        for stmt in _MERGE:
            await session.execute(stmt, {"survivor": d.survivor_id, "merged": d.merged_id})


async def order_created(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    for o in decode(events, OrderCreatedData):
        lines = sorted({ln.product_line for ln in o.lines if ln.product_line})
        values = {
            "order_id": o.order_id,
            "customer_id": o.customer_id,
            "ordered_at": o.ordered_at,
            "amount": o.amount,
            "currency": o.currency,
            "channel": o.channel,
            "lines": lines,
        }
        await session.execute(_INSERT_ORDER, values)
        await session.execute(_TOUCH_ORDER, values)


async def complaint_changed(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    for d in decode(events, ComplaintEventData):
        c = d.complaint
        await session.execute(
            _UPSERT_COMPLAINT,
            {
                "id": c.id,
                "customer_id": c.customer_id,
                "number": c.number,
                "category": c.category[:100],
                "severity": c.severity,
                "status": c.status,
                "subject": c.subject[:300],
                "opened_at": c.opened_at,
                "resolved_at": c.resolved_at,
                "reopens": c.reopen_count,
                "version": c.version,
            },
        )


async def interaction_logged(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    for d in decode(events, InteractionLoggedData):
        await session.execute(_TOUCH_INTERACTION, {"id": d.customer_id, "at": d.occurred_at})


def score_changed(threshold: float) -> EventHandler:
    async def handle(session: AsyncSession, events: list[dict[str, Any]]) -> None:
        for d in decode(events, ScoreChangedData):
            values = {
                "id": d.customer_id,
                "clv": d.clv,
                "abc": d.abc_class,
                "composite": d.composite_score,
                "segment": d.rfm_segment,
                "risk": d.churn_risk,
                "threshold": threshold,
                "as_of": d.as_of,
            }
            await session.execute(_UPSERT_SCORE, values)

    return handle


async def lifecycle_changed(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    for d in decode(events, LifecycleChangedData):
        await session.execute(_UPSERT_STAGE, {"id": d.customer_id, "stage": d.to_stage, "as_of": d.as_of})


COMPLAINT_TYPES = ("opened", "started", "resolved", "closed", "reopened", "updated")


def handlers(risk_threshold: float) -> dict[str, EventHandler]:
    """The read model's handler table (the churn-risk threshold decides `risk_since`)."""
    table: dict[str, Callable[..., Any]] = {
        "customer.created": customer_changed,
        "customer.updated": customer_changed,
        "customer.merged": customer_merged,
        "order.created": order_created,
        "interaction.logged": interaction_logged,
        "score.changed": score_changed(risk_threshold),
        "lifecycle.changed": lifecycle_changed,
    }
    table.update({f"complaint.{t}": complaint_changed for t in COMPLAINT_TYPES})
    return table
