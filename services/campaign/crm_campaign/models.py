"""Every table of the service, imported in one place for Alembic: add each domain's models.py here."""

from .audience.models import AudienceCustomer
from .base import Base
from .campaigns.models import Campaign, CampaignMember, ContactLog, Conversion, GlobalHoldout, Recipient
from .delivery.models import CallTask, ConsentForward, DeliveryBatch  # noqa: F401 (delivery's tables)
from .segments.models import Segment
from .winback.models import WinbackCase

__all__ = [
    "AudienceCustomer",
    "Base",
    "Campaign",
    "CampaignMember",
    "ContactLog",
    "Conversion",
    "GlobalHoldout",
    "Recipient",
    "Segment",
    "WinbackCase",
]
