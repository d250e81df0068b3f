"""User JWTs: audience and issuer required, HMAC keys rotated without downtime, and an identity
provider's keys fetched from its JWKS URL by `kid`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from crm_gateway.auth import Authenticator, AuthError
from crm_gateway.config import GatewaySettings
from crm_shared.testing import TEST_JWT_AUDIENCE, TEST_JWT_ISSUER

OLD, NEW, OTHER = ("old-secret-" + "a" * 32), ("new-secret-" + "b" * 32), ("other-secret-" + "c" * 32)


def claims(**over: Any) -> dict[str, Any]:
    return {
        "sub": "u1",
        "roles": ["analyst"],
        "exp": int(time.time()) + 60,
        "aud": TEST_JWT_AUDIENCE,
        "iss": TEST_JWT_ISSUER,
        **over,
    }


async def caller_of(auth: Authenticator, token: str) -> str:
    return (await auth.authenticate(f"Bearer {token}", None)).principal.client_id


async def test_tokens_without_the_right_audience_or_issuer_are_refused() -> None:
    auth = Authenticator(GatewaySettings(jwt_secret=NEW))
    assert await caller_of(auth, jwt.encode(claims(), NEW, algorithm="HS256")) == "u1"
    for bad in ({"aud": "another-api"}, {"iss": "https://evil.example"}):
        with pytest.raises(AuthError, match="not valid"):
            await caller_of(auth, jwt.encode(claims(**bad), NEW, algorithm="HS256"))
    for missing in ("aud", "iss"):
        token = jwt.encode({k: v for k, v in claims().items() if k != missing}, NEW, algorithm="HS256")
        with pytest.raises(AuthError, match=missing):
            await caller_of(auth, token)


async def test_a_rotation_accepts_the_previous_secret_and_nothing_else() -> None:
    auth = Authenticator(GatewaySettings(jwt_secret=NEW, jwt_previous_secrets=[OLD]))
    assert await caller_of(auth, jwt.encode(claims(sub="new"), NEW, algorithm="HS256")) == "new"
    assert await caller_of(auth, jwt.encode(claims(sub="old"), OLD, algorithm="HS256")) == "old"
    with pytest.raises(AuthError, match="Signature verification failed"):
        await caller_of(auth, jwt.encode(claims(sub="x"), OTHER, algorithm="HS256"))


class _Jwks(BaseHTTPRequestHandler):
    document: bytes = b""
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.document)))
        self.end_headers()
        self.wfile.write(self.document)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def identity_provider() -> Iterator[tuple[str, Any]]:
    """A JWKS endpoint publishing one RSA key (kid k1); yields its URL and the private key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    _Jwks.document = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()
    _Jwks.hits = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Jwks)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/jwks.json", key
    server.shutdown()


async def test_jwks_keys_are_fetched_by_kid_and_cached(identity_provider: tuple[str, Any]) -> None:
    url, key = identity_provider
    auth = Authenticator(GatewaySettings(jwt_algorithms=["RS256"], jwks_url=url))
    token = jwt.encode(claims(sub="idp-user"), key, algorithm="RS256", headers={"kid": "k1"})
    assert await caller_of(auth, token) == "idp-user"
    second = jwt.encode(claims(sub="idp-user-2"), key, algorithm="RS256", headers={"kid": "k1"})
    assert await caller_of(auth, second) == "idp-user-2"
    assert _Jwks.hits == 1  # the key set is cached
    forged = jwt.encode(
        claims(sub="mallory"),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    with pytest.raises(AuthError):
        await caller_of(auth, forged)
    unknown_kid = jwt.encode(claims(), key, algorithm="RS256", headers={"kid": "k9"})
    with pytest.raises(AuthError, match="no key"):
        await caller_of(auth, unknown_kid)


@pytest.mark.parametrize("sub", ["", "a\x00b", "line\nbreak", "x" * 256])
async def test_a_subject_that_cannot_be_an_id_is_refused(sub: str) -> None:
    auth = Authenticator(GatewaySettings(jwt_secret=NEW))
    with pytest.raises(AuthError, match="sub"):
        await caller_of(auth, jwt.encode(claims(sub=sub), NEW, algorithm="HS256"))
