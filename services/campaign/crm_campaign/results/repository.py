"""The result queries: per-group sizes and conversions, sent contacts, and the daily conversion curve."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

GROUPS = """
SELECT m.grp, count(*) AS members, count(c.customer_id) AS converters, coalesce(sum(c.orders), 0) AS orders,
       coalesce(sum(c.revenue), 0) AS revenue
FROM campaign_members m
LEFT JOIN (SELECT customer_id, count(*) AS orders, sum(amount) AS revenue FROM campaign_conversions
           WHERE campaign_id = :id GROUP BY customer_id) c ON c.customer_id = m.customer_id
WHERE m.campaign_id = :id
GROUP BY m.grp
"""

SENT = "SELECT count(*) FROM campaign_recipients WHERE campaign_id = :id AND status = 'sent'"

# New converters per day (a member's first attributed order), per group.
DAILY = """
SELECT day, grp, count(*) AS n FROM (
    SELECT customer_id, grp, (min(ordered_at) AT TIME ZONE 'UTC')::date AS day
    FROM campaign_conversions WHERE campaign_id = :id GROUP BY customer_id, grp
) first GROUP BY day, grp ORDER BY day
"""


async def groups(session: AsyncSession, campaign_id: uuid.UUID) -> list[Any]:
    return list(await session.execute(text(GROUPS), {"id": campaign_id}))


async def sent(session: AsyncSession, campaign_id: uuid.UUID) -> int:
    return int((await session.execute(text(SENT), {"id": campaign_id})).scalar_one())


async def daily(session: AsyncSession, campaign_id: uuid.UUID) -> list[Any]:
    return list(await session.execute(text(DAILY), {"id": campaign_id}))
