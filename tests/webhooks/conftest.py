"""Webhooks-service fixtures: a fresh migrated database per test (cloned from a template that
`alembic upgrade head` built once), the app as an admin, a partner and an integration, and event
deliveries signed as the other services' relays sign them. The delivery worker is off here: tests drive
its passes (`worker`) against receivers of their own."""

import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import httpx
import msgspec
import pytest

from crm_shared.events import new_event
from crm_shared.signing import signature_headers
from crm_shared.testing import TEST_EVENT_SECRET, app_client, partner_headers, service_database_fixtures, user_headers
from crm_webhooks.config import Settings
from crm_webhooks.main import SERVICE_DIR, create_app

ADMIN_SCOPES = ("webhooks:read", "webhooks:write", "audit:read", "pii:read")
ADMIN = user_headers("admin-1", *ADMIN_SCOPES, service="webhooks")
INTEGRATION = user_headers("integration-1", "webhooks:read", "webhooks:write", service="webhooks")
PARTNER = "shop-1"
PARTNER_HEADERS = partner_headers(PARTNER, "webhooks:read", "webhooks:write", service="webhooks")
OTHER_PARTNER_HEADERS = partner_headers("shop-2", "webhooks:read", "webhooks:write", service="webhooks")
RECEIVER = "https://receiver.example/hooks"

# The key sealing the signing secrets, for this run (inherited by the processes tests start).
os.environ.setdefault("WEBHOOKS_SECRET_KEYS", json.dumps([f"test-webhooks-key-{uuid.uuid4().hex}"]))

# Local receivers (http, 127.0.0.1) allowed, as in a local run; the worker off, short retries.
TestSettings = partial(
    Settings,
    allow_http=True,
    allow_private_hosts=True,
    worker_enabled=False,
    backoff_base_seconds=1.0,
    backoff_cap_seconds=60.0,
    max_attempts=3,
)
db_url, settings = service_database_fixtures(SERVICE_DIR, TestSettings)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app as an admin: webhooks:read/write, audit:read and pii:read."""
    async with app_client(create_app(settings), headers=ADMIN) as c:
        yield c


Post = Callable[..., Any]


def write(idem: str) -> dict[str, str]:
    return {"Idempotency-Key": idem}


_counter = iter(range(10**9))


async def subscribe(client: httpx.AsyncClient, headers: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
    """Create a subscription (201 expected) and return its answer, secret included."""
    body.setdefault("url", RECEIVER)
    body.setdefault("event_types", ["lifecycle.changed"])
    r = await client.post(
        "/api/v1/webhooks/subscriptions", json=body, headers={**(headers or {}), **write(f"sub-{next(_counter)}")}
    )
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def publish(client: httpx.AsyncClient, *events: dict[str, Any]) -> httpx.Response:
    """Deliver events to /internal/events as a relay does (signed with the suite's event secret)."""
    body = msgspec.json.encode(list(events))
    headers = {"content-type": "application/cloudevents-batch+json"}
    headers.update(signature_headers(TEST_EVENT_SECRET, f"test:{next(_counter)}", body))
    r = await client.post("/internal/events", content=body, headers=headers)
    assert r.status_code == 200, r.text
    return r


def event(type_: str, source: str = "/services/scoring", **data: Any) -> dict[str, Any]:
    return new_event(type_, source=source, subject=data.get("customer_id"), data=data)
