"""Fixtures shared by the whole test tree."""

from collections.abc import AsyncIterator

import httpx
import pytest

from crm_customer.config import Settings
from crm_customer.main import SERVICE_DIR, create_app
from crm_shared.testing import DatabaseFactory, app_client, partner_headers, user_headers

PARTNER = "shop-1"
WRITE = ("orders:write", "orders:read", "customers:write", "customers:read", "pii:read")


@pytest.fixture
async def db_url(databases: DatabaseFactory) -> str:
    return await databases.fresh(SERVICE_DIR)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, environment="test", log_json=False, log_level="WARNING")


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
