"""Event payloads of the campaign service (the `data` member of the envelope), registered in
`events.EVENT_TYPES`. Subjects: the campaign id for `campaign.launched`, the customer id otherwise."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Literal

from .common import Payload, Timestamp

Channel = Literal["email", "sms", "mail", "phone"]
Objective = Literal["retention", "win_back", "cross_sell", "reactivation"]
Group = Literal["treatment", "control", "global_control"]


class CampaignLaunchedData(Payload, kw_only=True):
    """`campaign.launched`: the audience was evaluated and split, recipients queued or suppressed."""

    campaign_id: uuid.UUID
    name: str
    objective: Objective
    channel: Channel
    kind: Literal["marketing", "transactional"]
    segment_id: uuid.UUID
    launched_at: Timestamp
    members: int
    treatment: int
    control: int
    global_control: int
    queued: int
    suppressed: int


class DeliverySentData(Payload, kw_only=True):
    """`delivery.sent`: one message left for a customer (subject = customer id)."""

    campaign_id: uuid.UUID
    customer_id: uuid.UUID
    channel: Channel
    sent_at: Timestamp
    provider_ref: str | None = None


class DeliveryFailedData(Payload, kw_only=True):
    """`delivery.failed`: a message could not be delivered; `final` = no more retries."""

    campaign_id: uuid.UUID
    customer_id: uuid.UUID
    channel: Channel
    failed_at: Timestamp
    error: str
    attempts: int
    final: bool = True


class ConversionAttributedData(Payload, kw_only=True):
    """`conversion.attributed`: an order by a campaign member within the attribution window."""

    campaign_id: uuid.UUID
    customer_id: uuid.UUID
    order_id: uuid.UUID
    group: Group
    amount: Decimal
    currency: str
    ordered_at: Timestamp


EVENT_TYPES: dict[str, type[Payload]] = {
    "campaign.launched": CampaignLaunchedData,
    "delivery.sent": DeliverySentData,
    "delivery.failed": DeliveryFailedData,
    "conversion.attributed": ConversionAttributedData,
}
