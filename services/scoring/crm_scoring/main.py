"""The scoring service app: `uvicorn --factory crm_scoring.main:create_app`."""

from __future__ import annotations

from pathlib import Path

import sklearn.ensemble  # noqa: F401  (see below)
import skops.io  # noqa: F401
from fastapi import FastAPI

from crm_shared.app import create_service_app

from .batch.endpoints import router as batch_router
from .batch.metrics import GAUGES as BATCH_GAUGES
from .config import Settings
from .currency_rates.endpoints import router as currency_rates_router
from .distributions.endpoints import router as distributions_router
from .formulas.endpoints import router as formulas_router
from .model_fits.endpoints import router as models_router
from .points.endpoints import router as points_router
from .purchases.handlers import HANDLERS
from .rules.endpoints import router as rules_router
from .scores.endpoints import router as scores_router

# skops and scikit-learn: the churn classifier's libraries, which scoring modules import when first used
# (selection/classifier.py), imported with the service so the first event after a start does not wait ~1.3 s.
SERVICE_DIR = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or Settings(),
        title="Scoring service",
        description="Customer value and lifecycle: RFM, ABC, composite value score, CLV with P(alive), "
        "lifecycle stages; kept current from order events, recomputed in batch as of any date.",
        service_dir=SERVICE_DIR,
        routers=[
            batch_router,
            formulas_router,
            rules_router,
            points_router,
            models_router,
            scores_router,
            distributions_router,
            currency_rates_router,
        ],
        event_handlers=HANDLERS,
        database_gauges=BATCH_GAUGES,
    )
