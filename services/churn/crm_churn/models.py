"""Every table of the service, imported in one place for Alembic: add each domain's models.py here."""

from .alerts.models import ChurnAlert
from .base import Base
from .customers.models import CustomerComplaint, CustomerOrder, CustomerValue
from .reasons.models import ChurnReason
from .records.models import ChurnRecord, ChurnRecordReason
from .reports.models import ChurnMonthTotal, ChurnRateDelta
from .watchlist.models import SettingsDocument, WatchEntry
from .winback.models import WinbackAction, WinbackCase, WinbackMonthTotal

__all__ = [
    "Base",
    "ChurnAlert",
    "ChurnMonthTotal",
    "ChurnRateDelta",
    "ChurnReason",
    "ChurnRecord",
    "ChurnRecordReason",
    "CustomerComplaint",
    "CustomerOrder",
    "CustomerValue",
    "SettingsDocument",
    "WatchEntry",
    "WinbackAction",
    "WinbackCase",
    "WinbackMonthTotal",
]
