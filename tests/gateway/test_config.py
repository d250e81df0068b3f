"""Settings: environment formats, validation, and the production guard."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from crm_gateway.config import GatewaySettings
from crm_gateway.routes import RouteTable
from crm_gateway.scopes import ALL_SCOPES, DEFAULT_ROLE_SCOPES
from crm_shared.auth import generate_api_key


def test_api_keys_and_services_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    full, key_id, hashed = generate_api_key()
    keys = [{"id": key_id, "hash": hashed, "client_id": "acme", "scopes": ["orders:write"], "name": "ACME ERP"}]
    monkeypatch.setenv("GATEWAY_API_KEYS", json.dumps(keys))
    monkeypatch.setenv("GATEWAY_SERVICES", '{"customer": "http://customer:8001/"}')
    monkeypatch.setenv("GATEWAY_CORS_ORIGINS", '["https://app.example"]')
    settings = GatewaySettings(jwt_secret="s" * 32)
    assert settings.api_keys[0].client_id == "acme"
    assert settings.api_keys[0].scopes == ["orders:write"]
    assert settings.services == {"customer": "http://customer:8001"}
    assert settings.cors_origins == ["https://app.example"]
    assert full.startswith(f"crm_{key_id}_")


def test_defaults_route_every_service_on_its_local_port() -> None:
    settings = GatewaySettings(jwt_secret="s" * 32)
    assert settings.services["customer"] == "http://127.0.0.1:8001"
    table = RouteTable(settings.services)
    assert table.match("/api/v1/orders/batch").upstream.name == "customer"  # type: ignore[union-attr]
    assert table.match("/api/v1/campaigns").upstream.port == 8004  # type: ignore[union-attr]
    assert table.match("/api/v1/ordersX") is None


def test_default_roles() -> None:
    assert set(DEFAULT_ROLE_SCOPES["admin"]) == ALL_SCOPES
    assert all(s.endswith(":read") for s in DEFAULT_ROLE_SCOPES["analyst"])
    assert "customers:write" in DEFAULT_ROLE_SCOPES["agent"]
    assert "orders:write" not in DEFAULT_ROLE_SCOPES["agent"]


@pytest.mark.parametrize(
    "values",
    [
        {"services": {"billing": "http://x:1"}},
        {"services": {"customer": "customer:8001"}},
        {"services": {"customer": "http://customer:8001/api"}},
        {"api_keys": [{"id": "a", "hash": "f" * 64, "client_id": "c", "scopes": ["order:write"]}]},
        {"api_keys": [{"id": "a_b", "hash": "f" * 64, "client_id": "c", "scopes": []}]},
        {"api_keys": [{"id": "a", "hash": "not-hex", "client_id": "c", "scopes": []}]},
        {"jwt_algorithms": ["none"]},
        {"jwt_algorithms": []},
        {"role_scopes": {"agent": ["customers:delete"]}},
        {"rate_limit": "lots"},
    ],
)
def test_invalid_settings_are_refused(values: dict) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(**values)


@pytest.mark.parametrize("environment", ["development", "test", "production"])
def test_every_environment_refuses_missing_or_short_secrets(environment: str) -> None:
    """No secret has a default anywhere; startup names the one missing."""
    with pytest.raises(ValidationError, match="GATEWAY_JWT_SECRET is not set"):
        GatewaySettings(environment=environment)
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        GatewaySettings(environment=environment, jwt_secret="short")
    with pytest.raises(ValidationError, match="GATEWAY_PRINCIPAL_KEYS is not set"):
        GatewaySettings(environment=environment, jwt_secret="s" * 32, principal_keys=[])
    assert GatewaySettings(environment=environment, jwt_secret="s" * 32).environment == environment


def test_jwt_audience_and_issuer_are_required() -> None:
    for missing in ({"jwt_audience": ""}, {"jwt_issuer": ""}):
        with pytest.raises(ValidationError, match="JWT_AUDIENCE and GATEWAY_JWT_ISSUER must be set"):
            GatewaySettings(jwt_secret="s" * 32, **missing)
