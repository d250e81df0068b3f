"""The customer service app: `uvicorn --factory crm_customer.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crm_shared.app import create_service_app

from .config import Settings
from .customers.endpoints import router as customers_router
from .orders.endpoints import router as orders_router
from .orders.schemas import COMPONENTS as ORDER_SCHEMAS

SERVICE_DIR = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or Settings(),
        title="Customer service",
        description="Customers (individuals, companies), partner orders, and their events.",
        service_dir=SERVICE_DIR,
        routers=[customers_router, orders_router],
        extra_schemas=ORDER_SCHEMAS,
    )
