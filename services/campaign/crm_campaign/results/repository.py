"""The result queries: per-group sizes and conversions, sent contacts, and the daily conversion curve.

Members per group and recipients per status come from the campaign's tallies (campaign_tallies, kept by
statement triggers on campaign_members and campaign_recipients: migration 0006), not from counting its rows;
conversions (a member's attributed orders, each carrying the member's group) are counted as they are."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

TALLIES = """
SELECT kind, value, sum(n) AS n FROM campaign_tallies WHERE campaign_id = :id GROUP BY kind, value
"""

# The campaign's converters (members with an attributed order) per group and day of their first attributed
# order, with their orders and revenue: the groups' figures and the daily curve from one scan.
CONVERTERS = """
SELECT grp, day, count(*) AS converters, sum(orders) AS orders, sum(revenue) AS revenue FROM (
    SELECT customer_id, grp, (min(ordered_at) AT TIME ZONE 'UTC')::date AS day, count(*) AS orders,
           sum(amount) AS revenue
    FROM campaign_conversions WHERE campaign_id = :id GROUP BY customer_id, grp
) first GROUP BY grp, day ORDER BY day, grp
"""


@dataclass(frozen=True)
class Group:
    grp: str
    members: int
    converters: int
    orders: int
    revenue: Decimal


async def tallies(session: AsyncSession, campaign_id: uuid.UUID) -> dict[tuple[str, str], int]:
    """(kind, value) -> count: ('group', grp) members, ('status', status) recipients."""
    rows = await session.execute(text(TALLIES), {"id": campaign_id})
    return {(kind, value): int(n) for kind, value, n in rows}


@dataclass(frozen=True)
class NewConverters:
    day: date
    grp: str
    n: int


async def converters(session: AsyncSession, campaign_id: uuid.UUID) -> list[Any]:
    """CONVERTERS' rows (grp, day, converters, orders, revenue), by day."""
    return list(await session.execute(text(CONVERTERS), {"id": campaign_id}))


def groups(counts: dict[tuple[str, str], int], converted: list[Any]) -> list[Group]:
    """Each group with members (from `counts`, the campaign's tallies) and its conversions."""
    out = []
    for (kind, grp), members in counts.items():
        if kind != "group" or not members:
            continue
        mine = [r for r in converted if r.grp == grp]
        out.append(
            Group(
                grp,
                members,
                sum(int(r.converters) for r in mine),
                sum(int(r.orders) for r in mine),
                sum((Decimal(r.revenue) for r in mine), Decimal(0)),
            )
        )
    return out


def daily(converted: list[Any]) -> list[NewConverters]:
    """New converters per day (a member's first attributed order) and group, by day."""
    return [NewConverters(r.day, r.grp, int(r.converters)) for r in converted]


def sent(counts: dict[tuple[str, str], int]) -> int:
    return counts.get(("status", "sent"), 0)
