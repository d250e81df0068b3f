"""Every table of the service, imported in one place for Alembic."""

from .base import Base
from .batch.models import BatchRun
from .currency_rates.models import CurrencyRate
from .distributions.buckets import score_buckets
from .distributions.cells import score_cells
from .formulas.models import FormulaVersion
from .model_fits.models import Calibration
from .points.models import PointsEntry
from .purchases.models import KnownCustomer, Purchase, PurchaseRefund
from .rules.models import RuleSet
from .scores.models import CustomerScore, ScoreChange, StageChange

__all__ = [
    "Base",
    "BatchRun",
    "Calibration",
    "CurrencyRate",
    "CustomerScore",
    "FormulaVersion",
    "KnownCustomer",
    "PointsEntry",
    "Purchase",
    "PurchaseRefund",
    "RuleSet",
    "ScoreChange",
    "StageChange",
    "score_buckets",
    "score_cells",
]
