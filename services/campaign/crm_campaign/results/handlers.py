"""Attribution: an `order.created` by a campaign member (treatment, control or global control alike)
within the campaign's attribution window after launch is recorded once per campaign and announced as
`conversion.attributed`. An order placed by a survivor of a merge counts for the merged id's memberships."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from crm_shared import outbox
from crm_shared.db import driver_connection
from crm_shared.inbox import EventHandler
from crm_shared.schemas.campaigns import ConversionAttributedData
from crm_shared.schemas.events import OrderCreatedData

from ..events import PUBLISHER

ATTRIBUTE = """
WITH o AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::numeric[], $4::text[], $5::timestamptz[])
        AS o(order_id, customer_id, amount, currency, ordered_at)
), buyers AS (
    SELECT o.*, o.customer_id AS member_id FROM o
    UNION ALL
    SELECT o.*, a.customer_id FROM o JOIN audience_customers a ON a.merged_into = o.customer_id
)
INSERT INTO campaign_conversions (campaign_id, order_id, customer_id, grp, amount, currency, ordered_at)
SELECT DISTINCT ON (m.campaign_id, b.order_id) m.campaign_id, b.order_id, b.member_id, m.grp, b.amount,
       b.currency, b.ordered_at
FROM buyers b
JOIN campaign_members m ON m.customer_id = b.member_id
JOIN campaigns c ON c.id = m.campaign_id
WHERE c.launched_at IS NOT NULL AND b.ordered_at >= c.launched_at
  AND b.ordered_at < c.launched_at + make_interval(days => c.attribution_days)
ORDER BY m.campaign_id, b.order_id, b.member_id
ON CONFLICT (campaign_id, order_id) DO NOTHING
RETURNING campaign_id, order_id, customer_id, grp, amount, currency, ordered_at
"""


async def on_order(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    orders = {o.order_id: o for o in (msgspec.convert(e["data"], OrderCreatedData) for e in events)}.values()
    conn = await driver_connection(session)
    rows = await conn.fetch(
        ATTRIBUTE,
        [o.order_id for o in orders],
        [o.customer_id for o in orders],
        [o.amount for o in orders],
        [o.currency for o in orders],
        [o.ordered_at for o in orders],
    )
    attributed = [
        PUBLISHER.event(
            "conversion.attributed",
            subject=r["customer_id"],
            data=(
                ConversionAttributedData(
                    campaign_id=r["campaign_id"],
                    customer_id=r["customer_id"],
                    order_id=r["order_id"],
                    group=r["grp"],
                    amount=r["amount"],
                    currency=r["currency"],
                    ordered_at=r["ordered_at"],
                )
            ),
        )
        for r in rows
    ]
    await outbox.publish(session, attributed)


HANDLERS: dict[str, EventHandler] = {"order.created": on_order}
