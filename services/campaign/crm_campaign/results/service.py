"""A campaign's result: groups, uplift against its control (and the programme's against the global
control), incremental revenue, cost, ROI and the sample-ratio check, as chart-ready series.

Money: incremental revenue = (revenue per treatment member - revenue per control member) x treatment
members; cost = cost per contact x messages sent; ROI = (incremental revenue - cost) / cost."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from ..campaigns.service import get as get_campaign
from . import repository
from .schemas import CENT, CampaignResult, DailyPoint, GroupResult, SampleRatioCheck, Uplift
from .uplift import sample_ratio, uplift_interval

ORDER = ("treatment", "control", "global_control")


def _uplift(t: GroupResult, other: GroupResult | None, versus: str) -> Uplift | None:
    if other is None:
        return None
    interval = uplift_interval(t.converters, t.members, other.converters, other.members)
    if interval is None:
        return None
    return Uplift(
        versus=versus,
        absolute=interval.estimate,
        ci_low=interval.low,
        ci_high=interval.high,
        standard_error=interval.standard_error,
        significant=interval.significant,
    )


async def result(session: AsyncSession, campaign_id: uuid.UUID) -> CampaignResult:
    campaign = await get_campaign(session, campaign_id)
    counts = await repository.tallies(session, campaign_id)
    converted = await repository.converters(session, campaign_id)
    rows = {r.grp: r for r in repository.groups(counts, converted)}
    groups: dict[str, GroupResult] = {}
    for name in ORDER:
        r = rows.get(name)
        members = r.members if r else 0
        revenue = Decimal(r.revenue if r else 0)
        groups[name] = GroupResult(
            group=name,
            members=members,
            converters=r.converters if r else 0,
            orders=int(r.orders) if r else 0,
            conversion_rate=(r.converters / members) if r and members else None,
            revenue=revenue,
            revenue_per_member=(revenue / members).quantize(CENT) if members else None,
        )
    t, c, g = groups["treatment"], groups["control"], groups["global_control"]
    uplift = _uplift(t, c if c.members else None, "control")
    contacts = repository.sent(counts)
    cost = (campaign.cost_per_contact * contacts).quantize(CENT)
    incremental_revenue = None
    if t.members and c.members:
        incremental_revenue = ((t.revenue / t.members - c.revenue / c.members) * t.members).quantize(CENT)
    roi = float((incremental_revenue - cost) / cost) if incremental_revenue is not None and cost > 0 else None
    ratio = sample_ratio(t.members, c.members, float(campaign.control_share))
    warning = None
    if ratio.mismatch:
        warning = (
            f"sample ratio mismatch: control is {ratio.observed_control_share:.4f} of the split, configured "
            f"{ratio.expected_control_share:.4f} (chi-square p = {ratio.p_value:.2g}); do not trust the uplift"
        )
    return CampaignResult(
        campaign_id=campaign.id,
        launched_at=campaign.launched_at,
        window_ends_at=campaign.launched_at + timedelta(days=campaign.attribution_days)
        if campaign.launched_at
        else None,
        groups=[groups[name] for name in ORDER],
        uplift=uplift,
        programme_uplift=_uplift(t, g if g.members else None, "global_control"),
        incremental_conversions=uplift.absolute * t.members if uplift else None,
        incremental_revenue=incremental_revenue,
        contacts=contacts,
        cost=cost,
        roi=roi,
        sample_ratio=SampleRatioCheck(
            expected_control_share=ratio.expected_control_share,
            observed_control_share=ratio.observed_control_share,
            chi_square=ratio.chi_square,
            p_value=ratio.p_value,
            mismatch=ratio.mismatch,
            warning=warning,
        ),
        daily=_daily(repository.daily(converted), groups),
    )


def _daily(rows: list, groups: dict[str, GroupResult]) -> list[DailyPoint]:
    """Cumulative conversion rate per group, one point per day with a new converter."""
    running = dict.fromkeys(ORDER, 0)
    points: dict = {}
    for r in rows:
        running[r.grp] += r.n
        points[r.day] = {
            name: (running[name] / groups[name].members if groups[name].members else None) for name in ORDER
        }
    return [DailyPoint(day=day, **values) for day, values in points.items()]
