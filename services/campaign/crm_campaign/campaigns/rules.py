"""The send-time rules, as SQL over the audience read model, shared by the launch (set-based, over the
whole audience) and by the delivery workers (re-checked just before each send, so an opt-out or a cap
reached since the launch stops the next send at once).

Marketing messages need an explicit opt-in on the channel, respect the customer's preferred channel, the
global monthly cap, the customer's own monthly maximum and quiet hours in the customer's time zone.
Transactional messages are exempt from all of that except an explicit opt-out and a missing address."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ..config import Settings
from ..segments.rules import compile_rules
from .models import CHANNELS

CAP_WINDOW = timedelta(days=30)
# Quiet hours defer email, SMS and calls; a letter or a call list is not delivered at the moment of queueing.
QUIET_CHANNELS = ("email", "sms", "phone")
ADDRESS = {"email": "a.email", "sms": "a.phone", "phone": "a.phone", "mail": "a.display_name"}


@dataclass(frozen=True)
class SendPolicy:
    monthly_cap: int
    quiet_start: time
    quiet_end: time
    default_time_zone: str

    @classmethod
    def from_settings(cls, settings: Settings) -> SendPolicy:
        return cls(
            monthly_cap=settings.marketing_monthly_cap,
            quiet_start=settings.quiet_hours_start,
            quiet_end=settings.quiet_hours_end,
            default_time_zone=settings.default_time_zone,
        )

    def params(self, now: datetime) -> dict[str, object]:
        return {
            "monthly_cap": self.monthly_cap,
            "quiet_start": self.quiet_start,
            "quiet_end": self.quiet_end,
            "default_tz": self.default_time_zone,
            "cap_since": now - CAP_WINDOW,
            "now": now,
        }


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:  # the channel is spliced into SQL: only ever one of the four
        raise ValueError(f"unknown channel {channel!r}")


def suppression_reason(channel: str, kind: str) -> str:
    """A SQL expression over `a` (audience_customers) and `cnt.n` (the customer's marketing contacts in the
    cap window, see `CONTACT_COUNTS`): the first rule that stops a send, or NULL."""
    _check_channel(channel)
    consent, address = f"a.consent_{channel}", ADDRESS[channel]
    if kind == "transactional":
        return (
            f"CASE WHEN a.merged_into IS NOT NULL THEN 'merged' "
            f"WHEN {consent} = 'opted_out' THEN 'no_consent' "
            f"WHEN {address} IS NULL THEN 'no_address' END"
        )
    return (
        f"CASE WHEN a.merged_into IS NOT NULL THEN 'merged' "
        f"WHEN {consent} IS DISTINCT FROM 'opted_in' THEN 'no_consent' "
        f"WHEN {address} IS NULL THEN 'no_address' "
        f"WHEN a.preferred_channel IS NOT NULL AND a.preferred_channel <> '{channel}' THEN 'not_preferred_channel' "
        f"WHEN coalesce(cnt.n, 0) >= :monthly_cap THEN 'frequency_cap' "
        f"WHEN a.max_contacts_per_month IS NOT NULL AND coalesce(cnt.n, 0) >= a.max_contacts_per_month "
        f"THEN 'customer_frequency_cap' END"
    )


def quiet_until(channel: str, kind: str) -> str:
    """A SQL expression: when `:now` falls in the quiet hours of the customer's zone, the end of those quiet
    hours (the earliest send time); else NULL. Works for windows across midnight (21:00-08:00)."""
    _check_channel(channel)
    if kind == "transactional" or channel not in QUIET_CHANNELS:
        return "NULL::timestamptz"
    local = "(CAST(:now AS timestamptz) AT TIME ZONE coalesce(a.time_zone, :default_tz))"
    t = f"{local}::time"
    quiet = (
        f"CASE WHEN CAST(:quiet_start AS time) <= CAST(:quiet_end AS time) "
        f"THEN {t} >= :quiet_start AND {t} < :quiet_end ELSE {t} >= :quiet_start OR {t} < :quiet_end END"
    )
    # The quiet window ends today, or tomorrow when it started this evening and wraps past midnight.
    day = f"({local}::date + CASE WHEN {t} >= :quiet_start AND :quiet_start > :quiet_end THEN 1 ELSE 0 END)"
    return (
        f"CASE WHEN {quiet} THEN ({day} + CAST(:quiet_end AS time)) AT TIME ZONE coalesce(a.time_zone, :default_tz) END"
    )


# Marketing contacts per customer in the cap window; a caller may narrow it with `AND customer_id = ANY(:ids)`.
CONTACT_COUNTS = "SELECT customer_id, count(*) AS n FROM contact_log WHERE kind = 'marketing' AND sent_at > :cap_since"


async def gate(
    session: AsyncSession,
    campaign_id: uuid.UUID,
    customer_ids: Sequence[uuid.UUID],
    *,
    now: datetime,
    policy: SendPolicy,
) -> list[uuid.UUID]:
    """Re-check the rules for queued recipients just before sending: those a rule now stops become
    `suppressed` with the reason, those in their quiet hours get `not_before` moved to the end of it, and
    the ids returned may be sent now. A dynamic segment is re-evaluated too: customers who left it since
    the launch are suppressed as `left_segment`."""
    row = (
        await session.execute(
            text(
                "SELECT c.channel, c.kind, s.mode, s.rules FROM campaigns c JOIN segments s ON s.id = c.segment_id "
                "WHERE c.id = :id"
            ),
            {"id": campaign_id},
        )
    ).one()
    channel, kind = row.channel, row.kind
    reason = suppression_reason(channel, kind)
    segment_params: dict[str, object] = {}
    if row.mode == "dynamic":
        segment = compile_rules(row.rules)
        # a send rule's reason first: it says more than "left the segment" (which the rule may have caused)
        reason = f"coalesce({reason}, CASE WHEN NOT ({segment.where}) THEN 'left_segment' END)"
        segment_params = segment.params
    sql = f"""
        WITH cnt AS ({CONTACT_COUNTS} AND customer_id = ANY(:ids) GROUP BY customer_id),
        verdict AS (
            SELECT r.customer_id, {reason} AS reason, {quiet_until(channel, kind)} AS defer_to
            FROM campaign_recipients r
            JOIN audience_customers a ON a.customer_id = r.customer_id
            LEFT JOIN cnt ON cnt.customer_id = r.customer_id
            WHERE r.campaign_id = :campaign_id AND r.customer_id = ANY(:ids) AND r.status = 'queued'
            FOR UPDATE OF r
        ),
        changed AS (
            UPDATE campaign_recipients r
            SET status = CASE WHEN v.reason IS NOT NULL THEN 'suppressed' ELSE r.status END,
                reason = coalesce(v.reason, r.reason),
                not_before = CASE WHEN v.reason IS NULL THEN v.defer_to ELSE r.not_before END,
                updated_at = :now
            FROM verdict v
            WHERE r.campaign_id = :campaign_id AND r.customer_id = v.customer_id
              AND (v.reason IS NOT NULL OR v.defer_to IS NOT NULL)
        )
        SELECT customer_id FROM verdict WHERE reason IS NULL AND defer_to IS NULL
    """
    params = {**policy.params(now), **segment_params, "campaign_id": campaign_id, "ids": list(customer_ids)}
    return [r.customer_id for r in await session.execute(text(sql), params)]


async def record_contacts(
    session: AsyncSession,
    campaign_id: uuid.UUID | None,
    customer_ids: Sequence[uuid.UUID],
    *,
    channel: str,
    kind: str,
    at: datetime,
) -> None:
    """Log messages actually sent (what the frequency caps count): call in the transaction that marks the
    recipients `sent`."""
    _check_channel(channel)
    await session.execute(
        text(
            "INSERT INTO contact_log (customer_id, campaign_id, channel, kind, sent_at) "
            "SELECT unnest(CAST(:ids AS uuid[])), :campaign_id, :channel, :kind, :at"
        ),
        {"ids": list(customer_ids), "campaign_id": campaign_id, "channel": channel, "kind": kind, "at": at},
    )
