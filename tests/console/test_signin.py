"""Sign-in rules in process (no suite needed): the development sign-in only outside production and behind the
CSRF token, redirects only to this site, and the settings refuse what production must not run with."""

from __future__ import annotations

import base64
import json
import re
import secrets

import jwt
import pytest
from pydantic import ValidationError

from crm_console.config import Settings
from crm_console.main import create_app
from crm_shared import launcher
from crm_shared.testing import app_client

KEY = secrets.token_urlsafe(32)


def dev_settings(**over: object) -> Settings:
    return Settings(environment="test", session_secret=secrets.token_urlsafe(32), dev_jwt_secret=KEY, **over)


async def test_the_development_sign_in_mints_a_short_token_as_make_token_does():
    async with app_client(create_app(dev_settings())) as console:
        form = await console.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)[1]
        done = await console.post("/login/dev", data={"role": "agent", "next": "//evil.example/x", "csrf_token": csrf})
        assert done.status_code == 303
        assert done.headers["location"] == "/"  # only paths of this site
        cookie = done.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "secure" not in cookie  # plain http outside production
        # the session (signed, not encrypted: the user's own token) holds an agent token of one hour
        payload = console.cookies["crm_console"].split(".")[0]
        session = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
        claims = jwt.decode(session["token"], KEY, algorithms=["HS256"], audience=launcher.JWT_AUDIENCE)
        assert claims["roles"] == ["agent"]
        assert claims["iss"] == launcher.JWT_ISSUER
        assert claims["exp"] - claims["iat"] == 3600


async def test_an_unknown_role_or_a_missing_csrf_token_signs_nobody_in():
    async with app_client(create_app(dev_settings())) as console:
        assert (await console.post("/login/dev", data={"role": "admin"})).status_code == 403
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', (await console.get("/login")).text)[1]
        unknown = await console.post("/login/dev", data={"role": "root", "csrf_token": csrf})
        assert unknown.status_code == 422
        assert (await console.get("/")).status_code == 303


async def test_without_a_key_there_is_no_development_sign_in(tmp_path):
    settings = Settings(environment="development", dev_credentials_file=tmp_path / "none.json")
    async with app_client(create_app(settings)) as console:
        page = await console.get("/login")
        assert 'name="role"' not in page.text
        assert "No sign-in is configured" in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is None  # no form to send
    launcher_file = tmp_path / "dev-credentials.json"
    launcher_file.write_text(json.dumps({"jwt_secret": KEY}))
    assert Settings(environment="development", dev_credentials_file=launcher_file).dev_signing_key() == KEY


def test_production_refuses_development_settings_and_needs_a_session_secret():
    with pytest.raises(ValidationError, match="CONSOLE_SESSION_SECRET"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="development"):
        Settings(environment="production", session_secret=secrets.token_urlsafe(32), dev_jwt_secret=KEY)
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(environment="test", session_secret="short")
    production = Settings(environment="production", session_secret=secrets.token_urlsafe(32))
    assert production.dev_signing_key() is None


async def test_pages_send_a_content_security_policy_allowing_only_this_site():
    async with app_client(create_app(dev_settings())) as console:
        page = await console.get("/login")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "<script>" not in page.text  # no inline script: the CSP would refuse it
        assert page.headers["x-frame-options"] == "DENY"
        assert (await console.get("/static/vendor/htmx.min.js")).status_code == 200
