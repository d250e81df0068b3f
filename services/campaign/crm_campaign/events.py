"""The events this service publishes (campaign.launched, delivery.sent/failed, conversion.attributed)."""

from __future__ import annotations

from crm_shared.events import Publisher

PUBLISHER = Publisher("/services/campaign")
