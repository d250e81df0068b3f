"""The campaign service app: `uvicorn --factory crm_campaign.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crm_shared.app import create_service_app
from crm_shared.inbox import combine_handlers

from .audience.handlers import HANDLERS as AUDIENCE_HANDLERS
from .campaigns.endpoints import router as campaigns_router
from .config import Settings
from .delivery.endpoints import router as delivery_router
from .delivery.public import router as unsubscribe_router
from .preferences.endpoints import router as preferences_router
from .results.endpoints import router as results_router
from .results.handlers import HANDLERS as RESULTS_HANDLERS
from .segments.endpoints import router as segments_router
from .winback.handlers import HANDLERS as WINBACK_HANDLERS

SERVICE_DIR = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or Settings(),
        title="Campaign service",
        description="Campaign service: segments, campaigns with test and control groups, uplift.",
        service_dir=SERVICE_DIR,
        # One router per domain folder (its endpoints.py).
        routers=[
            segments_router,
            campaigns_router,
            results_router,
            delivery_router,
            unsubscribe_router,
            preferences_router,
        ],
        # The audience read model and attribution, from the customer and scoring services' events; the churn
        # service's win-back cases, for targeting them.
        event_handlers=combine_handlers(
            AUDIENCE_HANDLERS,
            RESULTS_HANDLERS,
            WINBACK_HANDLERS,
        ),
    )
