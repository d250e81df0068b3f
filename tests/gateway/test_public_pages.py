"""/public/ pages (a message's one-click unsubscribe, the preference page): the gateway routes them to
their service without authentication, but only GET and POST, small bodies, a budget per client address,
and never with a principal token or the caller's credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request

from crm_gateway.main import create_app
from crm_shared.auth import PRINCIPAL_HEADER

from .conftest import Keys, LiveServer, settings_for
from .upstream import echo

RATE = 5


def campaign_app() -> FastAPI:
    app = FastAPI(title="campaign")

    @app.api_route("/public/campaigns/{rest:path}", methods=["GET", "POST", "PUT", "DELETE"])
    async def public(request: Request, rest: str):
        return await echo(request)

    return app


@pytest.fixture
async def public_gateway(keys: Keys) -> AsyncIterator[httpx.AsyncClient]:
    campaign = await LiveServer(campaign_app()).start()
    gateway = await LiveServer(
        create_app(settings_for({"campaign": campaign.url}, keys, rate_limit=f"{RATE}/minute"))
    ).start()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        yield client
    await gateway.stop()
    await campaign.stop()


async def test_a_public_page_needs_no_credentials_and_gets_none(public_gateway: httpx.AsyncClient, keys: Keys) -> None:
    sent = {
        "Authorization": f"Bearer {keys.full}",
        "X-API-Key": keys.full,
        PRINCIPAL_HEADER: "forged",
        "X-CRM-Anything": "forged",
    }
    response = await public_gateway.get("/public/campaigns/unsubscribe/tok123?x=1", headers=sent)
    assert response.status_code == 200, response.text
    seen = response.json()
    assert seen["service"] == "campaign"
    assert seen["path"] == "/public/campaigns/unsubscribe/tok123"
    assert seen["query"] == "x=1"
    forwarded = {name.lower() for name in seen["headers"]}
    assert not forwarded & {"authorization", "x-api-key", PRINCIPAL_HEADER.lower(), "x-crm-anything"}
    assert "x-request-id" in forwarded

    posted = await public_gateway.post("/public/campaigns/unsubscribe/tok123", data={"List-Unsubscribe": "One-Click"})
    assert posted.status_code == 200
    assert posted.json()["method"] == "POST"


async def test_only_get_and_post(public_gateway: httpx.AsyncClient) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        response = await public_gateway.request(method, "/public/campaigns/preferences/tok")
        assert response.status_code == 405, method
        assert response.headers["allow"] == "GET, POST"
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_large_body_is_refused(public_gateway: httpx.AsyncClient) -> None:
    response = await public_gateway.post("/public/campaigns/preferences/tok", content=b"x" * (64 * 1024 + 1))
    assert response.status_code == 413


async def test_unknown_public_paths_are_not_routed(public_gateway: httpx.AsyncClient) -> None:
    assert (await public_gateway.get("/public/other/page")).status_code == 404
    # The public prefix opens nothing of the service's API: /api/ still needs credentials.
    assert (await public_gateway.get("/api/v1/campaigns")).status_code == 401


async def test_each_address_has_a_budget(public_gateway: httpx.AsyncClient) -> None:
    statuses = [(await public_gateway.get("/public/campaigns/preferences/tok")).status_code for _ in range(RATE + 2)]
    assert statuses[:RATE] == [200] * RATE
    assert statuses[RATE:] == [429, 429]
