"""Inbox handlers that open, win back and fold churn records. They run after the read model's handlers
of the same event (customers/handlers.py), so the value at churn is the one the event brought.

Rules (settings, CHURN_ env): `lifecycle.changed` to `churned` opens a record (source `lifecycle`) at the
event's as_of (not when a newer stage is already known); a `score.changed` whose churn risk has stayed
at or over `risk_threshold` since `risk_since` for `risk_days` or more opens one (source `risk`), once per
risk episode. Either changes
nothing when the customer already has an open record. An `order.created` placed after the churn marks
the open record won back; `customer.merged` folds the merged customer's records into the survivor's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.inbox import EventHandler
from crm_shared.schemas.events import CustomerMergedData, OrderCreatedData
from crm_shared.schemas.scores import LifecycleChangedData, ScoreChangedData

from ..config import Settings
from ..customers.handlers import decode
from ..customers.models import CustomerValue
from . import repository, service


async def _superseded(session: AsyncSession, d: LifecycleChangedData) -> bool:
    """A newer stage is already stored (this one arrived late): it opens no record."""
    stmt = select(CustomerValue.stage_at).where(CustomerValue.customer_id == d.customer_id)
    stage_at = (await session.execute(stmt)).scalar_one_or_none()
    return stage_at is not None and stage_at > d.as_of


def handlers(settings: Settings) -> dict[str, EventHandler]:
    async def lifecycle_changed(session: AsyncSession, events: list[dict[str, Any]]) -> None:
        for d in decode(events, LifecycleChangedData):
            if d.to_stage == "churned" and not await _superseded(session, d):
                # The stage at churn is the one it left (the read model already says churned).
                await service.open_record(
                    session,
                    settings,
                    customer_id=d.customer_id,
                    source="lifecycle",
                    detected_at=d.as_of,
                    stage=d.from_stage,
                )

    async def score_changed(session: AsyncSession, events: list[dict[str, Any]]) -> None:
        for d in decode(events, ScoreChangedData):
            if d.churn_risk is None or d.churn_risk < settings.risk_threshold:
                continue
            owner = await repository.resolve(session, d.customer_id)
            stmt = select(CustomerValue.risk_since).where(CustomerValue.customer_id == owner)
            since = (await session.execute(stmt)).scalar_one_or_none()
            if since is None or d.as_of - since < timedelta(days=settings.risk_days):
                continue
            if await repository.detected_since(session, owner, since):
                continue
            await service.open_record(session, settings, customer_id=owner, source="risk", detected_at=d.as_of)

    async def order_created(session: AsyncSession, events: list[dict[str, Any]]) -> None:
        for o in decode(events, OrderCreatedData):
            await service.won_back(session, o.customer_id, o.order_id, o.ordered_at)

    async def customer_merged(session: AsyncSession, events: list[dict[str, Any]]) -> None:
        for d in decode(events, CustomerMergedData):
            await service.fold(session, d.survivor_id, d.merged_id)

    return {
        "lifecycle.changed": lifecycle_changed,
        "score.changed": score_changed,
        "order.created": order_created,
        "customer.merged": customer_merged,
    }
