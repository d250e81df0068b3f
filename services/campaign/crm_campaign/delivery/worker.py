"""The delivery worker: sends queued email and SMS recipients, durably, with retries.

The queue is `campaign_recipients` itself (status `queued`, due at `not_before`), written by the launch in
the launch's transaction: it is the outbox of deliveries. One pass:

1. Claim (one short transaction): due recipients of launched campaigns, `FOR UPDATE SKIP LOCKED` (several
   workers or processes never take the same row); re-check the send-time rules with `rules.gate` (an
   opt-out or a cap reached since the launch suppresses at once, quiet hours defer); lease the rest by
   counting the attempt and moving `not_before` a lease ahead. Commit.
2. Send outside any transaction (a slow SMTP server holds no row lock).
3. Record (one transaction): `sent` + contact log + `delivery.sent`; a transient failure goes back to
   `queued` after an exponential backoff; a permanent one, or the last attempt, becomes `failed` with
   `delivery.failed` (only final failures are published: a retry is no news to other services).

A worker that dies between 2 and 3 leaves the rows leased: they are claimed again once the lease ends, so a
message is sent at least once (the SMS provider gets the recipient as its idempotency key; an email may be
repeated in that rare case). Postal mail and phone recipients are not sent here: they leave as CSV batches
and call tasks (crm_campaign.delivery.batches)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from jinja2 import TemplateError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_shared.clients.customer import CustomerConsents
from crm_shared.outbox import publish
from crm_shared.polling import PollingWorker
from crm_shared.schemas.campaigns import DeliveryFailedData, DeliverySentData

from ..campaigns import templates
from ..campaigns.rules import SendPolicy, gate, record_contacts
from ..config import Settings
from ..events import PUBLISHER
from . import consent_forwards
from .links import LinkSigner
from .outcomes import SendFailed, permanent
from .sms import SmsProvider
from .smtp import SmtpSender, compose_email

log = logging.getLogger("crm.campaign.delivery")
WORKER_CHANNELS = ("email", "sms")
LEASE = timedelta(minutes=5)
STOP_GRACE = 30.0  # seconds a stopping app waits for the pass under way

_CLAIM = """
    SELECT r.campaign_id, r.customer_id
    FROM campaign_recipients r JOIN campaigns c ON c.id = r.campaign_id AND c.status = 'launched'
    WHERE r.status = 'queued' AND r.channel = ANY(:channels) AND r.not_before <= :now
    ORDER BY r.not_before
    LIMIT :limit
    FOR UPDATE OF r SKIP LOCKED
"""
_LEASE = """
    UPDATE campaign_recipients SET attempts = attempts + 1, not_before = :until, updated_at = :now
    WHERE campaign_id = :campaign_id AND customer_id = ANY(:ids)
    RETURNING customer_id, attempts
"""
_CONTENT = """
    SELECT a.customer_id, a.first_name, a.last_name, a.display_name, a.email, a.phone, a.region, a.kind,
           a.stage, a.abc_class, a.rfm_segment, a.composite_score, a.clv, a.tags
    FROM audience_customers a WHERE a.customer_id = ANY(:ids)
"""
# A recipient whose customer left the read model (gate() joins it, so it would stay queued at the head of
# the queue forever): suppressed.
_ORPHANS = """
    UPDATE campaign_recipients r SET status = 'suppressed', reason = 'not_in_audience', updated_at = now()
    WHERE r.campaign_id = :campaign_id AND r.customer_id = ANY(:ids) AND r.status = 'queued'
      AND NOT EXISTS (SELECT 1 FROM audience_customers a WHERE a.customer_id = r.customer_id)
"""
_CAMPAIGN = "SELECT id, name, objective, channel, kind, subject, template FROM campaigns WHERE id = :id"


@dataclass
class Message:
    """One leased recipient, ready to send."""

    campaign_id: uuid.UUID
    customer_id: uuid.UUID
    channel: str
    kind: str
    attempts: int
    address: str | None
    subject: str
    body: str
    error: SendFailed | None = None  # rendering failed: recorded without sending
    provider_ref: str | None = None


@dataclass
class PassResult:
    claimed: int = 0
    held: int = 0  # suppressed or deferred by the send-time rules
    sent: int = 0
    retried: int = 0
    failed: int = 0
    forwarded: int = 0  # consent changes recorded in the customer service
    errors: list[str] = field(default_factory=list)


class DeliveryWorker(PollingWorker):
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        signer: LinkSigner,
        *,
        consents: CustomerConsents | None = None,
        smtp: Callable[[], SmtpSender] | None = None,
        sms: Callable[[], SmsProvider] | None = None,
    ) -> None:
        # Stopping lets the pass under way finish (its messages are sent: their outcome must be recorded).
        super().__init__(
            name="campaign-delivery",
            poll_seconds=settings.delivery_poll_seconds,
            stop_grace_seconds=STOP_GRACE,
            log=log,
        )
        self._consents = consents
        self._sessions = sessionmaker
        self._settings = settings
        self._signer = signer
        self._policy = SendPolicy.from_settings(settings)
        self._smtp = smtp or (lambda: smtp_sender(settings))
        self._sms = sms or (lambda: sms_provider(settings))

    async def pass_once(self) -> bool:
        return (await self.run_once()).claimed > 0

    # -- one pass ----------------------------------------------------------------------------------------
    async def run_once(self, *, now: datetime | None = None) -> PassResult:
        now = now or datetime.now(UTC)
        result = PassResult()
        if self._consents is not None:  # unsubscribes the customer service has not taken yet
            result.forwarded = await consent_forwards.forward(self._sessions, self._consents, now=now)
        messages = await self._claim(now, result)
        if not messages:
            return result
        await self._send(messages)
        await self._record(messages, datetime.now(UTC), result)
        return result

    async def _claim(self, now: datetime, result: PassResult) -> list[Message]:
        limit = self._settings.delivery_batch_size
        params = {"channels": list(WORKER_CHANNELS), "now": now, "limit": limit}
        async with self._sessions() as session, session.begin():
            due = (await session.execute(text(_CLAIM), params)).all()
            by_campaign: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
            for row in due:
                by_campaign[row.campaign_id].append(row.customer_id)
            messages: list[Message] = []
            for campaign_id, ids in by_campaign.items():
                ok = await gate(session, campaign_id, ids, now=now, policy=self._policy)
                result.held += len(ids) - len(ok)
                await session.execute(text(_ORPHANS), {"campaign_id": campaign_id, "ids": ids})
                if ok:
                    messages += await self._lease(session, campaign_id, ok, now)
        result.claimed = len(messages)
        return messages

    async def _lease(
        self, session: AsyncSession, campaign_id: uuid.UUID, ids: Sequence[uuid.UUID], now: datetime
    ) -> list[Message]:
        campaign = (await session.execute(text(_CAMPAIGN), {"id": campaign_id})).one()
        leased = await session.execute(
            text(_LEASE), {"campaign_id": campaign_id, "ids": list(ids), "until": now + LEASE, "now": now}
        )
        attempts = {r.customer_id: r.attempts for r in leased}
        rows = (await session.execute(text(_CONTENT), {"ids": list(ids)})).mappings().all()
        context = {"name": campaign.name, "objective": campaign.objective, "channel": campaign.channel}
        return [self._compose(campaign, context, dict(row), attempts[row["customer_id"]]) for row in rows]

    def _compose(self, campaign: Any, context: dict[str, Any], customer: dict[str, Any], attempts: int) -> Message:
        channel = campaign.channel
        message = Message(
            campaign_id=campaign.id,
            customer_id=customer["customer_id"],
            channel=channel,
            kind=campaign.kind,
            attempts=attempts,
            address=customer["email"] if channel == "email" else customer["phone"],
            subject="",
            body="",
        )
        fields = {f: customer.get(f) for f in templates.CUSTOMER_FIELDS}
        try:
            message.body = templates.render(campaign.template, fields, context)
            message.subject = templates.render(campaign.subject or campaign.name, fields, context)
        except TemplateError as exc:  # a template that validated but fails on this customer's data
            message.error = permanent(f"template: {exc}")
        if not message.address:  # the read model lost the address since the gate (a race): nothing to send
            message.error = permanent("no address")
        return message

    def links(self, message: Message) -> tuple[str, str]:
        """The message's one-click unsubscribe URL and preference page URL."""
        base = self._settings.public_base_url.rstrip("/")
        customer, channel, campaign = message.customer_id, message.channel, message.campaign_id
        unsubscribe = self._signer.sign("unsubscribe", customer=customer, channel=channel, campaign=campaign)
        preferences = self._signer.sign("preferences", customer=customer, channel=channel, campaign=campaign)
        return (
            f"{base}/public/campaigns/unsubscribe/{unsubscribe}",
            f"{base}/public/campaigns/preferences/{preferences}",
        )

    async def _send(self, messages: list[Message]) -> None:
        todo = [m for m in messages if m.error is None]
        emails = [m for m in todo if m.channel == "email"]
        texts = [m for m in todo if m.channel == "sms"]
        lanes = max(1, self._settings.delivery_concurrency)
        # Each lane holds one SMTP connection and sends its share in turn.
        await asyncio.gather(
            *(self._send_emails(emails[i::lanes]) for i in range(lanes) if emails[i::lanes]),
            self._send_texts(texts, lanes),
        )

    async def _send_emails(self, messages: list[Message]) -> None:
        async with self._smtp() as smtp:
            for m in messages:
                unsubscribe, preferences = self.links(m)
                mail = compose_email(
                    sender=self._settings.email_from,
                    to=m.address or "",
                    subject=m.subject,
                    text=m.body,
                    reference=f"{m.campaign_id}.{m.customer_id}",
                    unsubscribe_url=unsubscribe,
                    preferences_url=preferences,
                )
                try:
                    m.provider_ref = (await smtp.send(mail))[:200]
                except SendFailed as exc:
                    m.error = exc

    async def _send_texts(self, messages: list[Message], lanes: int) -> None:
        if not messages:
            return
        limit = asyncio.Semaphore(lanes)
        async with self._sms() as sms:

            async def one(m: Message) -> None:
                unsubscribe, _ = self.links(m)  # its GET page has the one button that opts out of SMS
                body = m.body if m.kind == "transactional" else f"{m.body}\nOpt out: {unsubscribe}"
                reference = uuid.uuid5(m.campaign_id, str(m.customer_id))
                async with limit:
                    try:
                        m.provider_ref = (await sms.send(to=m.address or "", text=body, reference=reference))[:200]
                    except SendFailed as exc:
                        m.error = exc

            await asyncio.gather(*(one(m) for m in messages))

    async def _record(self, messages: list[Message], now: datetime, result: PassResult) -> None:
        """Every outcome of the pass in one UPDATE (arrays, unnest), the contact log and the events."""
        settings = self._settings
        events: list[dict[str, Any]] = []
        outcome: dict[str, list[Any]] = defaultdict(list)
        sent: dict[tuple[uuid.UUID, str, str], list[uuid.UUID]] = defaultdict(list)
        for m in messages:
            status, ref, reason, error, retry_at = "sent", m.provider_ref, None, None, None
            if m.error is None:
                sent[(m.campaign_id, m.channel, m.kind)].append(m.customer_id)
                data: msgspec.Struct = DeliverySentData(
                    campaign_id=m.campaign_id,
                    customer_id=m.customer_id,
                    channel=m.channel,  # type: ignore[arg-type]
                    sent_at=now,
                    provider_ref=m.provider_ref or None,
                )
                events.append(_event("delivery.sent", m.customer_id, data))
                result.sent += 1
            elif not m.error.permanent and m.attempts < settings.delivery_max_attempts:
                delay = settings.delivery_backoff_base_seconds * 2 ** (m.attempts - 1)
                status, error = "queued", m.error.reason
                retry_at = now + timedelta(seconds=min(delay, settings.delivery_backoff_cap_seconds))
                result.retried += 1
            else:
                status, error = "failed", m.error.reason
                reason = "refused" if m.error.permanent else "retries_exhausted"
                data = DeliveryFailedData(
                    campaign_id=m.campaign_id,
                    customer_id=m.customer_id,
                    channel=m.channel,  # type: ignore[arg-type]
                    failed_at=now,
                    error=m.error.reason,
                    attempts=m.attempts,
                )
                events.append(_event("delivery.failed", m.customer_id, data))
                result.failed += 1
                result.errors.append(m.error.reason)
            row = (m.campaign_id, m.customer_id, status, ref, reason, error, retry_at)
            for name, value in zip(_OUTCOME_COLUMNS, row, strict=True):
                outcome[name].append(value)
        async with self._sessions() as session, session.begin():
            await session.execute(text(_OUTCOMES), {**outcome, "now": now})
            for (campaign_id, channel, kind), ids in sent.items():
                await record_contacts(session, campaign_id, ids, channel=channel, kind=kind, at=now)
            await publish(session, events)


_OUTCOME_COLUMNS = ("campaigns", "customers", "statuses", "refs", "reasons", "errors", "retry_at")
# Only rows still queued change: one suppressed or cancelled meanwhile keeps its state. A retry stays
# queued, due again at retry_at.
_OUTCOMES = """
    UPDATE campaign_recipients r SET
        status = u.status,
        sent_at = CASE WHEN u.status = 'sent' THEN :now ELSE r.sent_at END,
        provider_ref = coalesce(u.ref, r.provider_ref),
        reason = coalesce(u.reason, r.reason),
        last_error = u.error,
        not_before = coalesce(u.retry_at, r.not_before),
        updated_at = :now
    FROM unnest(
        CAST(:campaigns AS uuid[]), CAST(:customers AS uuid[]), CAST(:statuses AS text[]), CAST(:refs AS text[]),
        CAST(:reasons AS text[]), CAST(:errors AS text[]), CAST(:retry_at AS timestamptz[])
    ) AS u(campaign_id, customer_id, status, ref, reason, error, retry_at)
    WHERE r.campaign_id = u.campaign_id AND r.customer_id = u.customer_id AND r.status = 'queued'
"""


def _event(type_: str, customer_id: uuid.UUID, data: msgspec.Struct) -> dict[str, Any]:
    return PUBLISHER.event(type_, subject=customer_id, data=data)


def smtp_sender(settings: Settings) -> SmtpSender:
    return SmtpSender(
        settings.smtp_host,
        settings.smtp_port,
        tls=settings.smtp_tls,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        timeout=settings.smtp_timeout_seconds,
    )


def sms_provider(settings: Settings) -> SmsProvider:
    token = settings.sms_provider_token.get_secret_value() if settings.sms_provider_token else ""
    return SmsProvider(settings.sms_provider_url, token=token)
