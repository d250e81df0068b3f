"""The preference page (signed link, no login) against the real customer service in its own process: it
shows what the customer service holds, records what the customer changes there (and in the read model at
once), names a bad field with a 422 and changes nothing, and refuses a forged or foreign link."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from crm_campaign.config import Settings
from crm_campaign.delivery.runtime import link_signer
from crm_campaign.main import create_app
from crm_shared.testing import ServerProcess, app_client, free_port
from tests.campaign.test_delivery_worker import (
    STAFF,
    audience,
    consents_there,
    customer_service,
    delivery_settings,
    new_customer,
)

__all__ = ["customer_service"]  # the module-scoped fixture, shared with the worker tests
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def page(settings: Settings, customer_service: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    config = delivery_settings(settings, customer_service_url=customer_service.url)
    async with app_client(create_app(config)) as client:
        yield client


def link(settings: Settings, customer: uuid.UUID, purpose: str = "preferences") -> str:
    signer = link_signer(delivery_settings(settings))
    assert signer is not None
    return f"/public/campaigns/preferences/{signer.sign(purpose, customer=customer, channel='email')}"  # type: ignore[arg-type]


def statuses(overview: dict[str, Any]) -> dict[str, str]:
    return {c["channel"]: c["status"] for c in overview["consents"]}


async def test_the_page_shows_and_saves_preferences(
    settings: Settings, page: httpx.AsyncClient, customer_service: ServerProcess, db: asyncpg.Connection
) -> None:
    ada = await audience(db, first_name="Ada", customer_id=await new_customer(customer_service, "Ada"))
    url = link(settings, ada)

    shown = await page.get(url)
    assert shown.status_code == 200
    assert 'name="consent_email" value="on" checked' in shown.text  # opted in at the customer service
    assert 'name="consent_sms" value="on">' in shown.text
    assert f'action="{url}"' in shown.text

    # Email off, SMS on, SMS preferred, at most 2 messages a month.
    saved = await page.post(url, content="consent_sms=on&preferred_channel=sms&max_contacts_per_month=2", headers=FORM)
    assert saved.status_code == 200, saved.text
    assert "Your preferences are saved." in saved.text
    there = await consents_there(customer_service, ada)
    assert statuses(there) == {"email": "opted_out", "sms": "opted_in", "mail": "unknown", "phone": "unknown"}
    assert (there["preferred_channel"], there["max_contacts_per_month"]) == ("sms", 2)
    local = await db.fetchrow("SELECT * FROM audience_customers WHERE customer_id = $1", ada)
    assert local is not None
    assert (local["consent_email"], local["consent_sms"], local["consent_mail"]) == ("opted_out", "opted_in", None)
    assert (local["preferred_channel"], local["max_contacts_per_month"]) == ("sms", 2)

    # Posting the same form again records nothing new.
    history = f"/api/v1/customers/{ada}/consents/history"
    async with httpx.AsyncClient(base_url=customer_service.url, headers=STAFF) as http:
        before = len((await http.get(history)).json()["items"])
        again = await page.post(
            url, content="consent_sms=on&preferred_channel=sms&max_contacts_per_month=2", headers=FORM
        )
        assert again.status_code == 200
        assert len((await http.get(history)).json()["items"]) == before


async def test_a_bad_field_is_named_and_nothing_changes(
    settings: Settings, page: httpx.AsyncClient, customer_service: ServerProcess, db: asyncpg.Connection
) -> None:
    ada = await audience(db, first_name="Ada", customer_id=await new_customer(customer_service, "Ada"))
    url = link(settings, ada)
    before = await consents_there(customer_service, ada)

    bad = await page.post(url, content="consent_sms=on&max_contacts_per_month=lots", headers=FORM)

    assert bad.status_code == 422
    assert 'id="error-max_contacts_per_month"' in bad.text
    assert "Nothing was changed." in bad.text
    assert await consents_there(customer_service, ada) == before
    assert await db.fetchval("SELECT consent_sms FROM audience_customers WHERE customer_id = $1", ada) is None


async def test_forged_or_foreign_links_are_refused(
    settings: Settings, page: httpx.AsyncClient, customer_service: ServerProcess, db: asyncpg.Connection
) -> None:
    ada = await audience(db, first_name="Ada", customer_id=await new_customer(customer_service, "Ada"))
    url = link(settings, ada)
    unsubscribe_token = link(settings, ada, purpose="unsubscribe").rsplit("/", 1)[1]
    for bad in (url[:-2] + "xx", f"/public/campaigns/preferences/{unsubscribe_token}"):
        assert (await page.get(bad)).status_code == 400
        assert (await page.post(bad, content="consent_email=on", headers=FORM)).status_code == 400
    assert statuses(await consents_there(customer_service, ada))["email"] == "opted_in"


async def test_the_customer_service_down_is_a_try_again_page(settings: Settings, db: asyncpg.Connection) -> None:
    down = delivery_settings(settings, customer_service_url=f"http://127.0.0.1:{free_port()}")
    ada = await audience(db, first_name="Ada")
    async with app_client(create_app(down)) as client:
        shown = await client.get(link(settings, ada))
        saved = await client.post(link(settings, ada), content="consent_email=on", headers=FORM)
    assert (shown.status_code, saved.status_code) == (503, 503)
    assert "try" in shown.text
    assert await db.fetchval("SELECT consent_email FROM audience_customers WHERE customer_id = $1", ada) == "opted_in"
