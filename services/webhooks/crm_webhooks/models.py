"""Every table of the service, imported in one place for Alembic: add each domain's models.py here."""

from .base import Base
from .deliveries.models import Delivery, Message
from .subscriptions.models import Subscription

__all__ = ["Base", "Delivery", "Message", "Subscription"]
