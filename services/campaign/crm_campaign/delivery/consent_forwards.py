"""Consent changes made in the campaign service (an unsubscribe link): effective here at once, recorded in
the customer service (which owns consent and tells every other service with `consent.changed`) right
away or, while it is unreachable, by the delivery worker later.

`record` runs in the caller's transaction: the local read model changes and a `consent_forwards` row is
written together, so an opt-out is never lost between the two services."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_shared.clients.customer import CustomerConsents, CustomerUnavailable

from ..campaigns.models import CHANNELS

log = logging.getLogger("crm.campaign.consent_forwards")
BACKOFF_CAP = timedelta(minutes=30)

_CLAIM = """
    SELECT id, customer_id, channel, status, source, attempts FROM consent_forwards
    WHERE forwarded_at IS NULL AND next_attempt_at <= :now AND (CAST(:id AS uuid) IS NULL OR id = :id)
    ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED
"""


async def record(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID,
    channel: str,
    status: str,
    source: str,
    campaign_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Change the local consent now and owe the change to the customer service; returns the forward's id."""
    if channel not in CHANNELS:  # spliced into the column name: only ever one of the four
        raise ValueError(f"unknown channel {channel!r}")
    await session.execute(
        text(f"UPDATE audience_customers SET consent_{channel} = :status, updated_at = now() WHERE customer_id = :id"),
        {"status": status, "id": customer_id},
    )
    forward_id: uuid.UUID = await session.scalar(
        text(
            "INSERT INTO consent_forwards (customer_id, channel, status, source, campaign_id) "
            "VALUES (:customer_id, :channel, :status, :source, :campaign_id) RETURNING id"
        ),
        {
            "customer_id": customer_id,
            "channel": channel,
            "status": status,
            "source": source,
            "campaign_id": campaign_id,
        },
    )
    return forward_id


async def forward(
    sessions: async_sessionmaker[AsyncSession],
    consents: CustomerConsents,
    *,
    only: uuid.UUID | None = None,
    limit: int = 100,
    now: datetime | None = None,
) -> int:
    """Send owed changes to the customer service (just `only`, when given); returns how many it took. One
    row per transaction, locked while its call runs, so two workers never send the same change; the
    idempotency key is the row's id, so a change sent twice is recorded once."""
    done = 0
    for _ in range(limit):
        at = now or datetime.now(UTC)
        async with sessions() as session, session.begin():
            row = (await session.execute(text(_CLAIM), {"now": at, "id": only})).one_or_none()
            if row is None:
                break
            outcome: dict[str, object]
            try:
                await consents.set_consent(
                    row.customer_id, row.channel, row.status, source=row.source, key=f"consent-forward-{row.id}"
                )
                outcome = {"forwarded_at": at, "next": at, "error": None}
                done += 1
            except LookupError:  # the customer is gone there (erased): nothing to record any more
                outcome = {"forwarded_at": at, "next": at, "error": "no such customer in the customer service"}
            except CustomerUnavailable as exc:
                delay = min(timedelta(seconds=5 * 2**row.attempts), BACKOFF_CAP)
                outcome = {"forwarded_at": None, "next": at + delay, "error": str(exc)[:500]}
                log.warning("consent change %s not forwarded yet: %s", row.id, exc)
            await session.execute(
                text(
                    "UPDATE consent_forwards SET forwarded_at = :forwarded_at, next_attempt_at = :next, "
                    "last_error = :error, attempts = attempts + 1 WHERE id = :id"
                ),
                {**outcome, "id": row.id},
            )
            if only is not None:
                break
    return done
