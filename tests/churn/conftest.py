"""Churn-service fixtures: a fresh migrated database per test (cloned from a template that
`alembic upgrade head` built once) and the app as an admin; the `db` connection fixture comes from
crm_shared.testing."""

from collections.abc import AsyncIterator

import httpx
import pytest

from crm_churn.config import Settings
from crm_churn.main import SERVICE_DIR, create_app
from crm_shared.testing import app_client, service_database_fixtures, user_headers

ADMIN_SCOPES = ("churn:read", "churn:write", "audit:read")
ADMIN = user_headers("admin-1", *ADMIN_SCOPES, service="churn")


db_url, settings = service_database_fixtures(SERVICE_DIR, Settings)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app as an admin: every scope of the service's API families and audit:read."""
    async with app_client(create_app(settings), headers=ADMIN) as c:
        yield c
