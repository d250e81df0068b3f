"""Every event the churn service writes to its outbox matches the payload Struct registered for its type
(crm_shared.schemas.events.EVENT_TYPES, from crm_shared/schemas/churn.py), with no undeclared field."""

import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
import msgspec

from crm_shared.events import EventEnvelope
from crm_shared.schemas.events import EVENT_TYPES
from tests.customer.test_event_contracts import _undeclared

from .events import deliver, idem, lifecycle_changed, published


async def test_every_emitted_event_matches_its_schema(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    for _ in range(3):
        r = await api.post(
            "/api/v1/churn/records", json={"customer_id": str(uuid.uuid4()), "reasons": ["price"]}, headers=idem()
        )
        assert r.status_code == 201, r.text
    await deliver(api, lifecycle_changed(uuid.uuid4(), datetime.now(UTC), "churned", "decline"))
    # a burst over a baseline, for alert.mass_churn
    await db.execute("""INSERT INTO churn_records (id, customer_id, status, source, detected_at, margin)
                        SELECT gen_random_uuid(), gen_random_uuid(), 'lost', 'declared', now() - interval '45 days', 0.1
                        FROM generate_series(1, 2)""")
    for _ in range(2):
        await api.post("/api/v1/churn/records", json={"customer_id": str(uuid.uuid4())}, headers=idem())

    events = await published(db)
    types = {e["type"] for e in events}
    assert {"churn.detected", "alert.mass_churn"} <= types, types
    for event in events:
        EventEnvelope.model_validate(event)
        assert event["source"] == "/services/churn"
        decoded = msgspec.convert(event["data"], EVENT_TYPES[event["type"]])
        assert _undeclared(event["data"], decoded) == [], event["type"]
