"""The bulk sync of the audience read model: every customer (with consents and tags) from the customer
service and every customer's scores from the scoring service, applied in ONE transaction, so a launch
meanwhile sees the old state or the new, never half of it. Events keep the model current afterwards; the
sync is for the first fill and for repair (POST /api/v1/campaigns/sync)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared.clients.customer import CONTACT_SCOPES, CustomerClient
from crm_shared.clients.customer import service_auth as customer_auth
from crm_shared.clients.scoring import ScoringClient
from crm_shared.clients.scoring import service_auth as scoring_auth
from crm_shared.db import driver_connection

from ..config import Settings
from . import repository
from .handlers import customer_row

CHANNELS = ("email", "sms", "mail", "phone")


@dataclass
class SyncReport:
    customers: int = 0
    consents: int = 0
    tags: int = 0
    scores: int = 0


async def sync_audience(session: AsyncSession, customers: CustomerClient, scoring: ScoringClient) -> SyncReport:
    report = SyncReport()
    conn = await driver_connection(session)
    async for page in customers.customers_with_contacts():
        await repository.upsert_customers(conn, [customer_row(c) for c in page])
        report.customers += len(page)
    # Consents and tags: what the customer service records now replaces what the model had.
    await conn.execute(
        "UPDATE audience_customers SET consent_email = NULL, consent_sms = NULL, consent_mail = NULL, "
        "consent_phone = NULL, consent_email_at = NULL, consent_sms_at = NULL, consent_mail_at = NULL, "
        "consent_phone_at = NULL, tags = '{}'"
    )
    for channel in CHANNELS:
        for status in ("opted_in", "opted_out"):
            async for consents in customers.consented(channel, status):
                await repository.set_consents(
                    conn, channel, [(c.customer_id, c.status, c.updated_at) for c in consents]
                )
                report.consents += len(consents)
    pairs: list[tuple[Any, str]] = []
    async for tags in customers.tags():
        for tag in tags:
            async for members in customers.tagged(tag.key):
                pairs += [(m.id, tag.key) for m in members]
    if pairs:
        await conn.execute(repository.SET_TAGS, [p[0] for p in pairs], [p[1] for p in pairs])
    report.tags = len(pairs)
    as_of = datetime.now(UTC)
    async for scores in scoring.all_scores():
        rows = [{**{k: getattr(s, k) for k in repository.SCORE_COLUMNS[:-1]}, "scores_as_of": as_of} for s in scores]
        await repository.upsert_scores(conn, rows)
        report.scores += len(rows)
    return report


async def sync_from_settings(
    session: AsyncSession, settings: Settings, transports: dict[str, Any] | None = None
) -> SyncReport:
    """The sync against the configured upstreams, called as the campaign service (principal keys);
    `transports` (by upstream name) lets tests and in-process callers reach the apps directly."""
    transports = transports or {}
    keys = settings.principal_key_values
    customers = CustomerClient(
        settings.customer_service_url,
        auth=customer_auth(keys, caller=settings.service_name, scopes=CONTACT_SCOPES),
        transport=transports.get("customer"),
    )
    scoring = ScoringClient(
        settings.scoring_service_url,
        auth=scoring_auth(keys, caller=settings.service_name),
        transport=transports.get("scoring"),
    )
    try:
        return await sync_audience(session, customers, scoring)
    finally:
        await customers.aclose()
        await scoring.aclose()
