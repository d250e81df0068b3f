"""The customer service app: `uvicorn --factory crm_customer.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from crm_shared.app import create_service_app

from .complaints.endpoints import router as complaints_router
from .complaints.report_endpoints import router as complaint_reports_router
from .complaints.taxonomy_endpoints import router as complaint_taxonomy_router
from .config import Settings
from .consent.endpoints import router as consent_router
from .contacts.endpoints import router as contacts_router
from .customers.endpoints import router as customers_router
from .hygiene.endpoints import router as hygiene_router
from .hygiene.worker import GAUGES as NAME_GROUP_GAUGES
from .interactions.endpoints import router as interactions_router
from .orders.endpoints import router as orders_router
from .orders.schemas import COMPONENTS as ORDER_SCHEMAS
from .profiles.endpoints import router as profiles_router
from .referrals.endpoints import router as referrals_router
from .tags.endpoints import router as tags_router
from .timeline.endpoints import router as timeline_router

SERVICE_DIR = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or Settings(),
        title="Customer service",
        description="Customers (individuals, companies), partner orders, and their events.",
        service_dir=SERVICE_DIR,
        # Routes with fixed segments (/customers/tags, /customers/duplicates) come before /customers/{id}.
        routers=[
            tags_router,
            hygiene_router,
            referrals_router,
            contacts_router,
            interactions_router,
            consent_router,
            profiles_router,
            timeline_router,
            customers_router,
            complaint_taxonomy_router,
            complaint_reports_router,
            complaints_router,
            orders_router,
        ],
        extra_schemas=ORDER_SCHEMAS,
        database_gauges=NAME_GROUP_GAUGES,  # companies waiting for the name groups' refresh, at each scrape
    )
