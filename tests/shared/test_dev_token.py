"""`make token ROLE=...`: a JWT the locally running gateway accepts, for trying the API as that role."""

import base64
import json
import re
import secrets

import jwt
import pytest

from crm_console.config import Settings
from crm_console.main import create_app
from crm_shared.launcher import JWT_AUDIENCE, JWT_ISSUER, dev_credentials, dev_token, main
from crm_shared.testing import app_client


def test_token_for_a_role_is_signed_with_this_machines_secret(tmp_path, capsys):
    main(["--data-dir", str(tmp_path), "--token", "agent"])
    token = capsys.readouterr().out.strip()
    secret = dev_credentials(tmp_path)["jwt_secret"]
    claims = jwt.decode(token, secret, algorithms=["HS256"], audience=JWT_AUDIENCE, issuer=JWT_ISSUER)
    assert claims["roles"] == ["agent"]
    assert claims["sub"] == "dev-agent"
    assert claims["exp"] - claims["iat"] == 12 * 3600
    # Nothing was started: no database folder beside the credentials.
    assert not (tmp_path / "pg").exists()


def test_a_token_for_another_gateways_audience_and_issuer(tmp_path):
    secret = dev_credentials(tmp_path)["jwt_secret"]
    token = dev_token({"jwt_secret": secret}, "analyst", hours=1, audience="crm-api-dev", issuer="crm-dev")
    claims = jwt.decode(token, secret, algorithms=["HS256"], audience="crm-api-dev", issuer="crm-dev")
    assert claims["roles"] == ["analyst"]
    with pytest.raises(jwt.InvalidAudienceError):  # the defaults stay `make run`'s
        jwt.decode(token, secret, algorithms=["HS256"], audience=JWT_AUDIENCE)
    defaults = Settings(environment="development")
    assert (defaults.dev_jwt_audience, defaults.dev_jwt_issuer) == (JWT_AUDIENCE, JWT_ISSUER)


async def test_the_consoles_development_sign_in_signs_for_the_configured_gateway(monkeypatch):
    """CONSOLE_DEV_JWT_AUDIENCE / _ISSUER: what compose and the k8s dev overlay give the gateway."""
    monkeypatch.setenv("CONSOLE_DEV_JWT_AUDIENCE", "crm-api")
    monkeypatch.setenv("CONSOLE_DEV_JWT_ISSUER", "crm-compose")
    key = secrets.token_urlsafe(32)
    settings = Settings(environment="test", session_secret=secrets.token_urlsafe(32), dev_jwt_secret=key)
    assert (settings.dev_jwt_audience, settings.dev_jwt_issuer) == ("crm-api", "crm-compose")
    async with app_client(create_app(settings)) as console:
        form = await console.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)[1]
        done = await console.post("/login/dev", data={"role": "marketer", "csrf_token": csrf})
        assert done.status_code == 303
    payload = console.cookies["crm_console"].split(".")[0]
    session = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    claims = jwt.decode(session["token"], key, algorithms=["HS256"], audience="crm-api", issuer="crm-compose")
    assert claims["roles"] == ["marketer"]
