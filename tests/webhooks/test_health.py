"""The webhooks service on real PostgreSQL: the checks every service passes
(tests/support/service_shape.py), and its audit log, served only behind the gateway's principal token."""

import asyncpg
import httpx
import pytest

from crm_shared.auth import PRINCIPAL_HEADER
from crm_webhooks.config import Settings
from crm_webhooks.main import SERVICE_DIR, create_app
from crm_webhooks.models import Base
from tests.support import service_shape

pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


def test_starts_as_its_own_process(db_url: str) -> None:
    env = {"WEBHOOKS_DATABASE_URL": db_url}
    service_shape.check_starts("crm_webhooks.main:create_app", env)


async def test_readyz_follows_migrations(settings: Settings, db: asyncpg.Connection) -> None:
    await service_shape.check_readyz_follows_migrations(create_app(settings), db)


async def test_schema_matches_models(db_url: str) -> None:
    assert await service_shape.schema_drift(db_url, Base.metadata) == []


async def test_downgrade_to_base_and_up_again(db_url: str, db: asyncpg.Connection) -> None:
    await service_shape.check_down_and_up(SERVICE_DIR, db_url, db, Base.metadata)


async def test_the_audit_log_needs_the_principal_token(api: httpx.AsyncClient) -> None:
    audit = "/api/v1/webhooks/audit"
    read = await api.get(audit)
    assert read.status_code == 200, read.text
    assert read.json() == {"items": [], "next_cursor": None}
    assert (await api.get(audit, headers={PRINCIPAL_HEADER: ""})).status_code == 401
