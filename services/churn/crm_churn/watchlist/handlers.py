"""Inbox handlers: every event that can move a customer on or off the watchlist refreshes its entry from the
churn read model, which the customers domain's handlers (chained before these: main.py) have just updated
in the same transaction. The refresh re-reads state rather than applying deltas, so it is idempotent and
independent of the order events arrive in; `score.changed` also brings the gold flag and how far the
value fell, applied in as_of order."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.db import driver_connection
from crm_shared.inbox import EventHandler
from crm_shared.schemas.events import (
    ComplaintEventData,
    CustomerChangedData,
    CustomerMergedData,
    InteractionLoggedData,
    OrderCreatedData,
)
from crm_shared.schemas.scores import LifecycleChangedData, ScoreChangedData

from . import repository
from .service import load_settings


async def _refresh(session: AsyncSession, ids: list[uuid.UUID]) -> None:
    settings = (await load_settings(session)).settings
    await repository.refresh(await driver_connection(session), ids, settings)


def _fall(data: ScoreChangedData) -> float:
    """The largest relative fall of CLV or the composite score at this change (0 when neither fell)."""
    falls = [0.0]
    for now, before in ((data.clv, data.previous_clv), (data.composite_score, data.previous_composite_score)):
        if now is not None and before is not None and before > 0 and now < before:
            falls.append(float((before - now) / before))
    return max(falls)


async def score_changed(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    latest: dict[uuid.UUID, ScoreChangedData] = {}
    for data in (msgspec.convert(e["data"], ScoreChangedData) for e in events):
        seen = latest.get(data.customer_id)
        if seen is None or seen.as_of <= data.as_of:
            latest[data.customer_id] = data
    rows = [(d.customer_id, d.gold, _fall(d), d.as_of) for d in latest.values()]
    await repository.apply_scores(await driver_connection(session), rows)
    await _refresh(session, list(latest))


def _ids_of(kind: type[Any], key: Any) -> EventHandler:
    async def handler(session: AsyncSession, events: list[dict[str, Any]]) -> None:
        ids: list[uuid.UUID] = []
        for e in events:
            ids += key(msgspec.convert(e["data"], kind))
        await _refresh(session, ids)

    return handler


HANDLERS: dict[str, EventHandler] = {
    "score.changed": score_changed,
    "lifecycle.changed": _ids_of(LifecycleChangedData, lambda d: [d.customer_id]),
    "order.created": _ids_of(OrderCreatedData, lambda d: [d.customer_id]),
    "interaction.logged": _ids_of(InteractionLoggedData, lambda d: [d.customer_id]),
    "customer.created": _ids_of(CustomerChangedData, lambda d: [d.customer.id]),
    "customer.updated": _ids_of(CustomerChangedData, lambda d: [d.customer.id]),
    "customer.merged": _ids_of(CustomerMergedData, lambda d: [d.survivor_id, d.merged_id]),
    **{
        f"complaint.{kind}": _ids_of(ComplaintEventData, lambda d: [d.complaint.customer_id])
        for kind in ("opened", "started", "resolved", "closed", "reopened", "updated")
    },
}
