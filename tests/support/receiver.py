"""A minimal event consumer, run as its own process by the tests: it applies `order.created` and
`customer.created` by inserting a row per event into `received_events`, through the shared inbox."""

from __future__ import annotations

import json
import os
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_customer.main import SERVICE_DIR
from crm_shared.app import create_service_app
from crm_shared.inbox import RetryLater
from crm_shared.settings import ServiceSettings

CREATE_TABLE = "CREATE TABLE IF NOT EXISTS received_events (event_id uuid, type text, subject text, order_id text)"


async def record(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    if os.environ.get("RECEIVER_FAIL"):  # down, not poisoned: the whole delivery is refused (503)
        raise RetryLater("receiver told to fail")
    await session.execute(
        text("INSERT INTO received_events VALUES (CAST(:id AS uuid), :type, :subject, :order_id)"),
        [
            {"id": e["id"], "type": e["type"], "subject": e["subject"], "order_id": e["data"].get("order_id")}
            for e in events
        ],
    )


def create_app() -> FastAPI:
    settings = ServiceSettings(
        service_name="receiver",
        database_url=os.environ["RECEIVER_DATABASE_URL"],
        log_level="WARNING",
        # The test run's secrets (crm_shared.testing), inherited from the parent process.
        cursor_secret=os.environ["CUSTOMER_CURSOR_SECRET"],
        principal_keys=json.loads(os.environ["CUSTOMER_PRINCIPAL_KEYS"]),
    )
    return create_service_app(
        settings=settings,
        title="receiver",
        description="test consumer",
        service_dir=SERVICE_DIR,
        event_handlers={"order.created": record, "customer.created": record},
    )
