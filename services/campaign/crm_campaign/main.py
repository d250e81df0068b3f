"""The campaign service app: `uvicorn --factory crm_campaign.main:create_app`. Not built yet: it serves only
the probes and metrics every part has, so the suite starts whole."""

from __future__ import annotations

from fastapi import FastAPI

from crm_shared.app import create_service_app

from .config import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or Settings(),
        title="Campaign service",
        description="Campaign service: segments, campaigns with test and control groups, uplift.",
        service_dir=None,
    )
