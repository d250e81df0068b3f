"""OpenID Connect sign-in against a fake provider (a local process, tests/console/fake_idp.py): the console
redirects to the provider with PKCE (S256), state and nonce, takes the code back, checks the ID token with
the provider's keys, and keeps the provider's access token as the user's session token. No network."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from crm_console.config import Settings
from crm_console.main import create_app
from crm_shared.testing import ServerProcess, app_client, free_port

ROOT = Path(__file__).resolve().parents[2]
ACCESS_SECRET = secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"IDP_ISSUER": url, "IDP_ACCESS_SECRET": ACCESS_SECRET, "PYTHONPATH": str(ROOT)}
    idp = ServerProcess("tests.console.fake_idp:create_app", env, port=port)
    try:
        idp.wait_ready("/readyz", timeout=60)
        yield url
    finally:
        idp.stop()


def settings(issuer: str) -> Settings:
    return Settings(
        environment="production",
        session_secret=secrets.token_urlsafe(32),
        oidc_issuer=issuer,
        oidc_client_id="crm-console",
        public_url="http://console.test",
        gateway_url="http://127.0.0.1:9",  # nothing listens: pages say the API cannot be reached
    )


async def test_sign_in_with_the_provider_keeps_its_access_token(issuer: str):
    async with app_client(create_app(settings(issuer))) as console:
        console.base_url = httpx.URL("https://console.test")  # production cookies are Secure
        login = await console.get("/login")
        assert "Sign in with your company account" in login.text
        assert 'value="agent"' not in login.text  # no development sign-in in production
        start = await console.get("/login/oidc", params={"next": "/churn"})
        assert start.status_code == 302
        to_idp = urlsplit(start.headers["location"])
        asked = parse_qs(to_idp.query)
        assert f"{to_idp.scheme}://{to_idp.netloc}{to_idp.path}" == f"{issuer}/authorize"
        assert asked["redirect_uri"] == ["http://console.test/auth/callback"]
        assert asked["code_challenge_method"] == ["S256"]
        assert asked["scope"] == ["openid profile email"]
        async with httpx.AsyncClient() as browser:
            approved = await browser.get(start.headers["location"])  # the provider approves at once
        back = urlsplit(approved.headers["location"])
        done = await console.get(f"/auth/callback?{back.query}")
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/churn"
        page = await console.get("/churn")
        assert page.status_code == 200
        assert "oidc-user-1 (analyst)" in page.text
        assert "The API cannot be reached" in page.text


async def test_a_callback_with_a_forged_state_signs_nobody_in(issuer: str):
    async with app_client(create_app(settings(issuer))) as console:
        console.base_url = httpx.URL("https://console.test")
        start = await console.get("/login/oidc")
        async with httpx.AsyncClient() as browser:
            approved = await browser.get(start.headers["location"])
        code = parse_qs(urlsplit(approved.headers["location"]).query)["code"][0]
        refused = await console.get("/auth/callback", params={"code": code, "state": "forged"})
        assert refused.status_code == 303
        assert refused.headers["location"].startswith("/login?error=")
        assert (await console.get("/")).headers["location"].startswith("/login")
