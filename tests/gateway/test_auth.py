"""Authentication (API keys, JWTs) and scope checks at the gateway."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable

import httpx
import jwt
import pytest

from crm_shared.errors import PROBLEM_JSON

from .conftest import JWT_SECRET, Keys, bearer, principal_seen

pytestmark = pytest.mark.asyncio


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["type"]
    return body


async def test_missing_credentials_is_401_with_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/customers/1")
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "missing" in body["detail"]
    assert body["instance"] == "/api/v1/customers/1"


@pytest.mark.parametrize(
    "header",
    [
        {"Authorization": "Bearer crm_unknownid_secret"},
        {"Authorization": "Bearer crm_malformed"},
        {"X-API-Key": "crm_nope_nope"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
    ],
)
async def test_invalid_credentials_are_401(client: httpx.AsyncClient, header: dict[str, str]) -> None:
    response = await client.get("/api/v1/customers/1", headers=header)
    assert_problem(response, 401)
    assert "www-authenticate" in response.headers


async def test_right_key_id_with_wrong_secret_is_401(client: httpx.AsyncClient, keys: Keys) -> None:
    key_id = keys.reader.split("_")[1]
    response = await client.get("/api/v1/customers/1", headers=bearer(f"crm_{key_id}_not-the-secret"))
    body = assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "API key" in body["detail"]


async def test_api_key_in_either_header_is_accepted(client: httpx.AsyncClient, keys: Keys) -> None:
    for headers in (bearer(keys.reader), {"X-API-Key": keys.reader}):
        response = await client.get("/api/v1/customers/1", headers=headers)
        assert response.status_code == 200, response.text
        assert principal_seen(response.json()).client_id == "partner-reader"


async def test_missing_scope_is_403(client: httpx.AsyncClient, keys: Keys) -> None:
    # customers:read does not allow writing customers, nor reading scores.
    write = await client.post("/api/v1/customers", headers=bearer(keys.reader), json={"name": "x"})
    body = assert_problem(write, 403)
    assert "customers:write" in body["detail"]
    assert 'error="insufficient_scope"' in write.headers["www-authenticate"]
    other = await client.get("/api/v1/scores/1", headers=bearer(keys.reader))
    assert "scores:read" in assert_problem(other, 403)["detail"]


async def test_jwt_roles_map_to_scopes(client: httpx.AsyncClient, make_jwt: Callable[..., str]) -> None:
    analyst = make_jwt("alice", ["analyst"])
    read = await client.get("/api/v1/scores/7", headers=bearer(analyst))
    assert read.status_code == 200, read.text
    seen = principal_seen(read.json(), "scoring")
    assert (seen.client_id, seen.kind, seen.roles) == ("alice", "user", ("analyst",))
    assert set(seen.scopes) == {
        f"{f}:read"
        for f in ("customers", "orders", "complaints", "scores", "churn", "segments", "campaigns", "webhooks")
    }
    assert_problem(await client.post("/api/v1/customers", headers=bearer(analyst), json={}), 403)

    agent = make_jwt("bob", ["agent", "unknown-role"])
    write = await client.post("/api/v1/customers", headers=bearer(agent), json={"name": "x"})
    assert write.status_code == 200, write.text
    assert principal_seen(write.json()).has("customers:write")


async def test_jwt_without_known_roles_has_no_scopes(client: httpx.AsyncClient, make_jwt: Callable[..., str]) -> None:
    assert_problem(await client.get("/api/v1/customers/1", headers=bearer(make_jwt("eve"))), 403)


async def test_expired_jwt_is_401(client: httpx.AsyncClient, make_jwt: Callable[..., str]) -> None:
    response = await client.get("/api/v1/customers/1", headers=bearer(make_jwt("a", ["admin"], expires_in=-60)))
    body = assert_problem(response, 401)
    assert "expired" in body["detail"]
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def _unsigned(payload: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


async def test_jwt_with_other_algorithms_or_keys_is_401(
    client: httpx.AsyncClient, make_jwt: Callable[..., str]
) -> None:
    claims = {"sub": "mallory", "roles": ["admin"], "exp": int(time.time()) + 300}
    forged = {
        "alg none": _unsigned(claims),
        "HS512 with the right secret": make_jwt("mallory", ["admin"], algorithm="HS512"),
        "wrong secret": make_jwt("mallory", ["admin"], key="another-secret-" + "f" * 64),
        "garbage": "not.a.jwt",
    }
    for what, token in forged.items():
        response = await client.get("/api/v1/customers/1", headers=bearer(token))
        assert response.status_code == 401, what
        assert response.json()["status"] == 401


async def test_jwt_missing_subject_is_401(client: httpx.AsyncClient) -> None:
    token = jwt.encode({"roles": ["admin"], "exp": int(time.time()) + 60}, JWT_SECRET, algorithm="HS256")
    assert_problem(await client.get("/api/v1/customers/1", headers=bearer(token)), 401)


async def test_valid_jwt_is_served_from_cache_until_it_expires(
    client: httpx.AsyncClient, make_jwt: Callable[..., str]
) -> None:
    expires = int(time.time()) + 2  # exp has whole-second resolution
    token = make_jwt("carol", ["admin"], exp=expires)
    assert (await client.get("/api/v1/customers/1", headers=bearer(token))).status_code == 200
    assert (await client.get("/api/v1/customers/1", headers=bearer(token))).status_code == 200
    await asyncio.sleep(expires - time.time() + 0.05)
    assert_problem(await client.get("/api/v1/customers/1", headers=bearer(token)), 401)
