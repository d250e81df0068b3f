"""GET `{the service's first API prefix}/delivery`: how far each subscriber is behind this service's
events, for a client that pushed data and wants to know when the other services have applied it.

After a bulk push, poll with `since` = the time of the last push: `caught_up` turns true once every event
this service published up to then has been delivered to each subscriber. A subscriber that answers an
event delivery has applied it in the same transaction (see `crm_shared.inbox`), so delivered = applied.
The same figures are on /metrics (`crm_outbox_pending_messages`, `crm_outbox_oldest_pending_age_seconds`).

Partners may read it: it holds backlog counts and ages of the whole service, no event content."""

# No `from __future__ import annotations`: the endpoint is built in a function, and FastAPI must
# evaluate its annotations.
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from .access import allow
from .auth import Principal
from .bounds import Instant
from .db import ReadSessionDep, driver_connection

# One scan of the undelivered rows through their partial index (ix_outbox_messages_due), whatever the
# size of the delivered history.
_BACKLOG = """
    SELECT s AS subscriber,
           count(*) FILTER (WHERE NOT dead) AS messages,
           coalesce(sum(event_count) FILTER (WHERE NOT dead), 0) AS events,
           min(created_at) FILTER (WHERE NOT dead) AS oldest,
           count(*) FILTER (WHERE NOT dead AND created_at <= $1) AS before_since,
           count(*) FILTER (WHERE dead) AS dead,
           count(*) FILTER (WHERE dead AND created_at <= $1) AS dead_before_since
    FROM outbox_messages, unnest(pending) AS s
    WHERE delivered_at IS NULL
    GROUP BY s
"""


class SubscriberBacklog(BaseModel):
    name: str = Field(examples=["scoring"])
    pending_messages: int = Field(description="outbox messages not yet delivered (one message carries a batch)")
    pending_events: int = Field(
        description="events in those messages, all types they carry (the subscriber receives the ones it takes)"
    )
    oldest_pending_at: datetime | None = Field(description="when the oldest of them was published")
    oldest_pending_age_seconds: float = Field(description="its age; 0 when nothing is pending")
    undeliverable_messages: int = Field(
        description="messages given up after the retry period (need an operator: see the service's logs)"
    )
    caught_up: bool = Field(description="every event published up to `since` has been delivered")


class DeliveryStatus(BaseModel):
    as_of: datetime
    since: datetime = Field(description="the instant `caught_up` is judged at (default: now)")
    caught_up: bool = Field(description="every subscriber has caught up")
    subscribers: list[SubscriberBacklog]


def delivery_router(prefix: str, read_scope: str) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["delivery"])

    @router.get("/delivery", response_model=DeliveryStatus)
    async def delivery_status(
        request: Request,
        session: ReadSessionDep,
        principal: Annotated[Principal, allow(read_scope, partner="own")],
        since: Annotated[
            Instant | None,
            Query(description="judge `caught_up` for the events published up to this instant (default: now)"),
        ] = None,
    ) -> DeliveryStatus:
        """How far each subscriber is behind this service's events; poll after a push until `caught_up`."""
        conn = await driver_connection(session)
        now = await conn.fetchval("SELECT now()")
        cutoff = min(since, now) if since is not None else now
        rows = {r["subscriber"]: r for r in await conn.fetch(_BACKLOG, cutoff)}
        names = sorted({s.name for s in request.app.state.settings.subscribers} | rows.keys())
        subscribers = []
        for name in names:
            row = rows.get(name)
            oldest = row["oldest"] if row else None
            subscribers.append(
                SubscriberBacklog(
                    name=name,
                    pending_messages=row["messages"] if row else 0,
                    pending_events=int(row["events"]) if row else 0,
                    oldest_pending_at=oldest,
                    oldest_pending_age_seconds=(now - oldest).total_seconds() if oldest else 0.0,
                    undeliverable_messages=row["dead"] if row else 0,
                    caught_up=not row or row["before_since"] + row["dead_before_since"] == 0,
                )
            )
        return DeliveryStatus(
            as_of=now.astimezone(UTC),
            since=cutoff.astimezone(UTC),
            caught_up=all(s.caught_up for s in subscribers),
            subscribers=subscribers,
        )

    return router
