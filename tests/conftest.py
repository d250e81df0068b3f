"""Fixtures shared by the whole test tree."""

from collections.abc import AsyncIterator

import httpx
import pytest

from crm_customer.config import Settings
from crm_customer.main import SERVICE_DIR, create_app
from crm_shared.testing import app_client, partner_headers, service_database_fixtures, user_headers

PARTNER = "shop-1"
WRITE = ("orders:write", "orders:read", "customers:write", "customers:read", "pii:read")


db_url, settings = service_database_fixtures(SERVICE_DIR, Settings)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_app(settings), headers=partner_headers(PARTNER, *WRITE)) as c:
        yield c


STAFF = user_headers(
    "u1",
    "complaints:read",
    "complaints:write",
    "customers:read",
    "customers:write",
    "orders:read",
    "orders:write",
    "pii:read",
)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app as a staff user (JWT at the gateway) with every customer-service scope."""
    async with app_client(create_app(settings), headers=STAFF) as c:
        yield c
