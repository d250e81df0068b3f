"""The scoring service app: `uvicorn --factory crm_scoring.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crm_shared.app import create_service_app

from .config import Settings

SERVICE_DIR = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or Settings(),
        title="Scoring service",
        description="Customer value and lifecycle: RFM, ABC, composite value score, CLV with P(alive), "
        "lifecycle stages; kept current from order events, recomputed in batch as of any date.",
        service_dir=SERVICE_DIR,
        routers=[],
        event_handlers={},
    )
