"""The webhooks service app: `uvicorn --factory crm_webhooks.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crm_shared.app import create_service_app

from .config import Settings
from .deliveries.endpoints import router as deliveries_router
from .deliveries.gauges import GAUGES
from .deliveries.handlers import HANDLERS
from .subscriptions.endpoints import router as subscriptions_router

SERVICE_DIR = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or Settings(),
        title="Webhooks service",
        description="Webhooks service: partner webhooks (Standard Webhooks 1.0): subscriptions, signed "
        "deliveries, retries with backoff, dead letters and replays, secret rotation.",
        service_dir=SERVICE_DIR,
        # One router per domain folder (its endpoints.py); the deliveries router runs the delivery worker.
        routers=[subscriptions_router, deliveries_router],
        # Every subscribable event fans out to the subscriptions that take it.
        event_handlers=HANDLERS,
        database_gauges=GAUGES,  # waiting and dead deliveries, read at each scrape of /metrics
    )
