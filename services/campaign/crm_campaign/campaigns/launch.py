"""The launch, as three set-based statements over the audience read model (no Python per customer):
1. members: the segment's live customers, each drawn into global_control (an active global holdout,
   marketing only), control (the campaign's share, by draw; stratified: the same share within each ABC
   class, the lowest draws held out) or treatment;
2. recipients: every treatment member queued, or suppressed with the first rule that stops it (rules.py),
   and beyond the budget (highest composite score first) suppressed as `budget`; quiet hours and the
   schedule set `not_before`;
3. the counts for the summary and the `campaign.launched` event."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ..segments.rules import Compiled
from .assignment import unit_sql
from .models import Campaign
from .rules import CONTACT_COUNTS, SendPolicy, quiet_until, suppression_reason

UNLIMITED = 2**62


async def active_holdouts(session: AsyncSession, at: datetime) -> list[tuple[int, Decimal]]:
    rows = await session.execute(
        text("SELECT seed, share FROM global_holdouts WHERE starts_at <= :at AND ends_at > :at ORDER BY id"),
        {"at": at},
    )
    return [(r.seed, r.share) for r in rows]


async def assign_members(
    session: AsyncSession, campaign: Campaign, segment: Compiled, holdouts: list[tuple[int, Decimal]], at: datetime
) -> None:
    params: dict[str, Any] = {**segment.params, "campaign_id": campaign.id, "seed": campaign.seed, "at": at}
    params["share"] = float(campaign.control_share)
    held = "false"
    if campaign.kind == "marketing" and holdouts:
        terms = []
        for i, (seed, share) in enumerate(holdouts):
            params[f"h_seed_{i}"], params[f"h_share_{i}"] = seed, float(share)
            terms.append(f"{unit_sql(f'CAST(:h_seed_{i} AS bigint)', 'a.customer_id')} < CAST(:h_share_{i} AS float8)")
        held = " OR ".join(terms)
    audience = (
        f"SELECT a.customer_id, a.abc_class, {unit_sql('CAST(:seed AS bigint)', 'a.customer_id')} AS u, "
        f"({held}) AS held "
        f"FROM audience_customers a WHERE a.merged_into IS NULL AND {segment.where}"
    )
    if campaign.stratify_by_abc:
        source = (
            "SELECT *, row_number() OVER w AS rank, count(*) OVER (PARTITION BY held, coalesce(abc_class, '-')) AS n "
            f"FROM ({audience}) aud WINDOW w AS (PARTITION BY held, coalesce(abc_class, '-') ORDER BY u, customer_id)"
        )
        control = "rank <= round(n * CAST(:share AS float8))"
    else:
        source, control = audience, "u < CAST(:share AS float8)"
    sql = (
        "INSERT INTO campaign_members (campaign_id, customer_id, grp, stratum, assigned_at) "
        "SELECT :campaign_id, customer_id, CASE WHEN held THEN 'global_control' "
        f"WHEN {control} THEN 'control' ELSE 'treatment' END, abc_class, :at FROM ({source}) s"
    )
    await session.execute(text(sql), params)


async def queue_recipients(
    session: AsyncSession, campaign: Campaign, policy: SendPolicy, at: datetime, start: datetime
) -> None:
    """`start`: when sending may begin (the schedule, or now); caps and quiet hours are judged then."""
    limit = UNLIMITED
    if campaign.budget is not None and campaign.cost_per_contact > 0:
        limit = int(campaign.budget // campaign.cost_per_contact)
    reason = suppression_reason(campaign.channel, campaign.kind)
    verdicts = f"""
        SELECT m.customer_id, {reason} AS reason, {quiet_until(campaign.channel, campaign.kind)} AS quiet_to,
               a.composite_score
        FROM campaign_members m
        JOIN audience_customers a ON a.customer_id = m.customer_id
        LEFT JOIN cnt ON cnt.customer_id = m.customer_id
        WHERE m.campaign_id = :campaign_id AND m.grp = 'treatment'"""
    if limit < UNLIMITED:
        ranked = (
            "SELECT v.*, CASE WHEN reason IS NULL THEN row_number() OVER (PARTITION BY reason IS NULL "
            f"ORDER BY composite_score DESC NULLS LAST, customer_id) END AS pos FROM ({verdicts}) v"
        )
    else:
        ranked = f"SELECT v.*, 1 AS pos FROM ({verdicts}) v"
    sql = f"""
        WITH cnt AS ({CONTACT_COUNTS} GROUP BY customer_id)
        INSERT INTO campaign_recipients (campaign_id, customer_id, channel, status, reason, not_before,
                                         created_at, updated_at)
        SELECT :campaign_id, customer_id, :channel,
               CASE WHEN reason IS NULL AND pos <= CAST(:limit AS bigint) THEN 'queued' ELSE 'suppressed' END,
               CASE WHEN reason IS NULL AND pos > CAST(:limit AS bigint) THEN 'budget' ELSE reason END,
               coalesce(quiet_to, CAST(:now AS timestamptz)), :at, :at
        FROM ({ranked}) r"""
    params = {
        **policy.params(start),
        "campaign_id": campaign.id,
        "channel": campaign.channel,
        "limit": limit,
        "at": at,
    }
    await session.execute(text(sql), params)


async def counts(
    session: AsyncSession, campaign_id: uuid.UUID
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    groups = await session.execute(
        text("SELECT grp, count(*) AS n FROM campaign_members WHERE campaign_id = :id GROUP BY grp"),
        {"id": campaign_id},
    )
    statuses = await session.execute(
        text(
            "SELECT status, reason, count(*) AS n FROM campaign_recipients WHERE campaign_id = :id "
            "GROUP BY status, reason"
        ),
        {"id": campaign_id},
    )
    by_group = {"treatment": 0, "control": 0, "global_control": 0} | {r.grp: r.n for r in groups}
    by_status: dict[str, int] = {"queued": 0, "suppressed": 0}
    by_reason: dict[str, int] = {}
    for r in statuses:
        by_status[r.status] = by_status.get(r.status, 0) + r.n
        if r.reason:
            by_reason[r.reason] = by_reason.get(r.reason, 0) + r.n
    return by_group, by_status, by_reason
