"""The audience read model on real PostgreSQL: kept current by the customer and scoring services' events
(out-of-order deliveries never overwrite newer data), and refilled by the bulk sync from the real customer
and scoring apps (in process), which replaces consents and tags with what the customer service records."""

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from crm_campaign.config import Settings
from crm_campaign.main import create_app
from crm_customer.config import Settings as CustomerSettings
from crm_customer.main import SERVICE_DIR as CUSTOMER_DIR
from crm_customer.main import create_app as create_customer_app
from crm_scoring.config import Settings as ScoringSettings
from crm_scoring.main import SERVICE_DIR as SCORING_DIR
from crm_scoring.main import create_app as create_scoring_app
from crm_shared.testing import DatabaseFactory, app_client, user_headers
from tests.campaign.conftest import ADMIN
from tests.campaign.support import (
    add_audience,
    consent_changed,
    customer_event,
    deliver,
    idem,
    lifecycle_changed,
    preferences_changed,
    score_changed,
    tag_event,
)
from tests.scoring.events import merged, order_created

NOW = datetime.now(UTC)


async def _row(db: asyncpg.Connection, customer_id: uuid.UUID) -> dict:
    return dict(await db.fetchrow("SELECT * FROM audience_customers WHERE customer_id = $1", customer_id))


async def test_events_keep_the_read_model_current(api: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    cid, other = uuid.uuid4(), uuid.uuid4()
    address = {"line1": "x", "city": "Porto", "region": "Norte", "country": "PT"}
    await deliver(api, consent_changed(cid, "sms", "opted_in"))  # before the customer itself: still kept
    await deliver(
        api,
        customer_event("customer.created", cid, email="ana@example.com", phone="+351900000000", address=address,
                       preferred_channel="email", version=2),
    )  # fmt: skip
    await deliver(api, customer_event("customer.updated", cid, email="old@example.com", version=1))  # stale: ignored
    await deliver(api, tag_event("tag.added", cid, "loyal"), tag_event("tag.added", cid, "member"))
    await deliver(api, tag_event("tag.removed", cid, "loyal"))
    await deliver(api, score_changed(cid, as_of=NOW, abc_class="A", clv="812.50", churn_risk=0.2, gold=True))
    await deliver(api, score_changed(cid, as_of=NOW - timedelta(days=1), abc_class="C"))  # older: ignored
    await deliver(api, lifecycle_changed(cid, "decline", as_of=NOW))
    await deliver(api, preferences_changed(cid, channel="sms", max_per_month=2, version=3))
    await deliver(
        api,
        consent_changed(cid, "email", "opted_out", at=NOW + timedelta(seconds=1)),
        consent_changed(cid, "email", "opted_in", at=NOW),  # earlier, though later in the batch
    )
    row = await _row(db, cid)
    assert {k: row[k] for k in ("email", "region", "country", "tags", "abc_class", "gold", "stage", "preferred_channel",
                                "max_contacts_per_month", "consent_email", "consent_sms", "customer_version")} == {
        "email": "ana@example.com", "region": "Norte", "country": "PT", "tags": ["member"], "abc_class": "A",
        "gold": True, "stage": "decline", "preferred_channel": "sms", "max_contacts_per_month": 2,
        "consent_email": "opted_out", "consent_sms": "opted_in", "customer_version": 3,
    }  # fmt: skip
    assert str(row["clv"]) == "812.50"
    await deliver(api, customer_event("customer.created", other))
    await deliver(api, merged(cid, other))
    assert (await _row(db, other))["merged_into"] == cid


async def test_bulk_sync_from_the_customer_and_scoring_services(
    databases: DatabaseFactory, settings: Settings, db: asyncpg.Connection
) -> None:
    customer_app = create_customer_app(
        CustomerSettings(database_url=await databases.fresh(CUSTOMER_DIR), log_level="WARNING")
    )
    scoring_app = create_scoring_app(
        ScoringSettings(database_url=await databases.fresh(SCORING_DIR), log_level="WARNING")
    )
    staff = user_headers("u1", "customers:read", "customers:write", "pii:read")
    async with app_client(customer_app, headers=staff) as customers, app_client(scoring_app) as scoring:
        ana = (
            await customers.post(
                "/api/v1/customers",
                json={"first_name": "Ana", "email": "ana@example.com", "time_zone": "Asia/Tokyo"},
                headers=idem(),
            )
        ).json()
        acme = (
            await customers.post(
                "/api/v1/customers",
                json={"kind": "company", "company_name": "Acme", "phone": "+4915112345678"},
                headers=idem(),
            )
        ).json()
        ana_id, acme_id = uuid.UUID(ana["id"]), uuid.UUID(acme["id"])
        for path, body in (
            (f"/api/v1/customers/{ana_id}/consents/email", {"status": "opted_in", "source": "web form"}),
            (f"/api/v1/customers/{acme_id}/consents/sms", {"status": "opted_out", "source": "call centre"}),
        ):
            assert (await customers.put(path, json=body, headers=idem())).status_code in (200, 201)
        assert (await customers.put(f"/api/v1/customers/{ana_id}/tags/member", headers=idem())).status_code in (
            200,
            201,
        )
        prefs = await customers.put(
            f"/api/v1/customers/{acme_id}/contact-preferences",
            json={"preferred_channel": "sms", "max_contacts_per_month": 1},
            headers=idem(**{"If-Match": '"1"'}),
        )
        assert prefs.status_code == 200, prefs.text
        await deliver(scoring, order_created(ana_id, NOW - timedelta(days=3), "120.00"))
        # stale state in the read model that the sync must correct
        await add_audience(db, [{"customer_id": acme_id, "consent_email": "opted_in", "tags": ["loyal"]}])
        app = create_app(settings)
        app.state.upstream_transports = {"customer": customers._transport, "scoring": scoring._transport}
        async with app_client(app, headers=ADMIN) as api:
            r = await api.post("/api/v1/campaigns/sync", headers=idem())
    assert r.status_code == 200, r.text
    assert r.json() == {"customers": 2, "consents": 2, "tags": 1, "scores": 1}
    ana_row, acme_row = await _row(db, ana_id), await _row(db, acme_id)
    assert (ana_row["email"], ana_row["consent_email"], ana_row["tags"], ana_row["stage"]) == (
        "ana@example.com", "opted_in", ["member"], "introduction",
    )  # fmt: skip
    assert ana_row["composite_score"] is not None
    assert (ana_row["time_zone"], acme_row["time_zone"]) == ("Asia/Tokyo", None)  # quiet hours follow it
    acme_fields = ("kind", "phone", "consent_email", "consent_sms", "tags")
    assert tuple(acme_row[k] for k in acme_fields) == ("company", "+4915112345678", None, "opted_out", [])
    assert (acme_row["preferred_channel"], acme_row["max_contacts_per_month"]) == ("sms", 1)


async def test_an_older_consent_change_delivered_late_does_not_override(
    api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    cid = uuid.uuid4()
    await deliver(api, consent_changed(cid, "email", "opted_out", at=NOW))
    await deliver(api, consent_changed(cid, "email", "opted_in", at=NOW - timedelta(minutes=5)))
    assert (await _row(db, cid))["consent_email"] == "opted_out"
