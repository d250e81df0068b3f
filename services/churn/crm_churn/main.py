"""The churn service app: `uvicorn --factory crm_churn.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crm_shared.app import create_service_app

from .config import Settings

SERVICE_DIR = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or Settings(),
        title="Churn service",
        description="Churn service: churn measurement and reasons, profit lost, win-back workflow.",
        service_dir=SERVICE_DIR,
        # One router per domain folder (its endpoints.py), as in the customer service. With none yet, the
        # service serves its probes, metrics and audit log (under its first API prefix).
        routers=[],
    )
