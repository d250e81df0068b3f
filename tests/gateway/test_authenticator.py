"""The authenticator on its own: caching of verified credentials and its bounds."""

from __future__ import annotations

import time

import jwt
import pytest

from crm_gateway.auth import Authenticator, AuthError
from crm_gateway.config import ApiKey, GatewaySettings
from crm_shared.auth import Principal, generate_api_key

SECRET = "unit-secret-" + "x" * 40


def _authenticator(**overrides: object) -> tuple[Authenticator, list[str]]:
    issued = [generate_api_key() for _ in range(3)]
    keys = [ApiKey(id=i, hash=h, client_id=f"p{n}", scopes=["customers:read"]) for n, (_, i, h) in enumerate(issued)]
    settings = GatewaySettings(api_keys=keys, jwt_secret=SECRET, **overrides)  # type: ignore[arg-type]
    return Authenticator(settings), [full for full, _, _ in issued]


async def test_verified_api_key_is_served_from_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    auth, keys = _authenticator()
    first = await auth.authenticate(f"Bearer {keys[0]}", None)
    assert first.principal == Principal("p0", "partner", frozenset({"customers:read"}), ("partner",))

    def no_hashing(*_: object) -> bool:
        raise AssertionError("a cached key must not be hashed again")

    monkeypatch.setattr("crm_gateway.auth.secret_matches", no_hashing)
    assert await auth.authenticate(None, keys[0]) is first


def test_api_key_cache_is_bounded() -> None:
    auth, keys = _authenticator(api_key_cache_size=2)
    for key in keys:
        auth.api_key(key)
    assert list(auth._key_cache) == keys[1:]  # the oldest went first


def test_bad_keys_are_not_cached() -> None:
    auth, keys = _authenticator()
    wrong = keys[0][:-3] + "zzz"
    for _ in range(2):
        with pytest.raises(AuthError):
            auth.api_key(wrong)
    assert not auth._key_cache


def test_jwt_roles_and_audience() -> None:
    auth, _ = _authenticator(jwt_audience="crm", jwt_issuer="https://idp.example")
    claims = {"sub": "u1", "roles": ["agent"], "exp": int(time.time()) + 60, "aud": "crm", "iss": "https://idp.example"}
    caller = auth.jwt(jwt.encode(claims, SECRET, algorithm="HS256"))
    assert caller.principal.kind == "user"
    assert "customers:write" in caller.principal.scopes
    assert caller.rate_key == "user:u1"
    for bad in ({"aud": "other"}, {"iss": "https://evil.example"}):
        with pytest.raises(AuthError):
            auth.jwt(jwt.encode({**claims, **bad}, SECRET, algorithm="HS256"))
