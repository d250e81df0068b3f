"""Scoring-service fixtures: a fresh migrated database per test and the app as staff (the `db` connection
fixture comes from crm_shared.testing)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_scoring.config import Settings
from crm_scoring.main import SERVICE_DIR, create_app
from crm_shared.db import create_engine
from crm_shared.testing import app_client, service_database_fixtures, user_headers

ANALYST = user_headers("analyst-1", "scores:read", service="scoring")
ADMIN = user_headers("admin-1", "scores:read", "scores:write", service="scoring")


db_url, settings = service_database_fixtures(SERVICE_DIR, Settings)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app as an admin (scores:read and scores:write)."""
    async with app_client(create_app(settings), headers=ADMIN) as c:
        yield c


@pytest.fixture
async def reader(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app as an analyst (scores:read only)."""
    async with app_client(create_app(settings), headers=ANALYST) as c:
        yield c


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine of the test's database, for calling the batch runner directly."""
    engine = create_engine(settings.async_database_url, application_name="test-batch")
    yield engine
    await engine.dispose()
