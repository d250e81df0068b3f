"""The churn service app: `uvicorn --factory crm_churn.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crm_shared.app import create_service_app
from crm_shared.inbox import combine_handlers

from .alerts.endpoints import router as alerts_router
from .config import Settings
from .customers import handlers as customer_handlers
from .reasons.endpoints import router as reasons_router
from .records import handlers as record_handlers
from .records.endpoints import router as records_router
from .reports import ledger
from .reports.endpoints import router as reports_router
from .watchlist import handlers as watchlist_handlers
from .watchlist.endpoints import router as watchlist_router
from .winback.endpoints import router as winback_router

SERVICE_DIR = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        settings=settings,
        title="Churn service",
        description="Churn service: churn measurement and reasons, profit lost, win-back workflow.",
        service_dir=SERVICE_DIR,
        # One router per domain folder (its endpoints.py), as in the customer service.
        routers=[
            records_router,
            reasons_router,
            reports_router,
            alerts_router,
            watchlist_router,
            winback_router,
        ],
        # Same event type in several tables: run in this order (the read model first, so a record opened
        # by an event copies the value that event brought).
        # The churn-rate ledger brackets every event that can move its figures (reports/ledger.py).
        event_handlers=ledger.tracked(
            combine_handlers(
                customer_handlers.handlers(settings.risk_threshold),
                record_handlers.handlers(settings),
                watchlist_handlers.HANDLERS,
            )
        ),
    )
