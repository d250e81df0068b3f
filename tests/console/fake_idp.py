"""A minimal OpenID Connect provider for the console's sign-in test, run as its own process: discovery, an
authorization endpoint that approves at once (redirecting with a code), a token endpoint checking the code
and its PKCE verifier, and the JWKS of the key that signs its ID tokens (RS256). The access token is a JWT
signed with IDP_ACCESS_SECRET (HS256), as a gateway trusting this provider would verify it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import jwt
from joserfc import jwt as jose_jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "crm-console"
ROLES = ["analyst"]


def create_app() -> Starlette:
    issuer = os.environ["IDP_ISSUER"]
    access_secret = os.environ["IDP_ACCESS_SECRET"]
    key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"})
    codes: dict[str, dict[str, Any]] = {}

    async def discovery(request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "jwks_uri": f"{issuer}/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def authorize(request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("code_challenge_method") != "S256":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        codes[code] = dict(q)
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302)

    async def token(request: Request) -> Response:
        form = await request.form()
        asked = codes.pop(str(form.get("code")), None)
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if asked is None or asked["code_challenge"] != challenge or form.get("redirect_uri") != asked["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        claims = {"iss": issuer, "sub": "oidc-user-1", "iat": now, "exp": now + 600}
        access = jwt.encode({**claims, "aud": "crm-api", "roles": ROLES}, access_secret, algorithm="HS256")
        id_claims = {**claims, "aud": CLIENT_ID, "nonce": asked.get("nonce"), "email": "user@example.com"}
        id_token = jose_jwt.encode({"alg": "RS256", "kid": "test-key"}, id_claims, key)
        return JSONResponse({"access_token": access, "id_token": id_token, "token_type": "Bearer", "expires_in": 600})

    async def jwks(request: Request) -> Response:
        return Response(json.dumps({"keys": [key.as_dict(private=False)]}), media_type="application/json")

    async def ready(request: Request) -> Response:
        return JSONResponse({"status": "ready"})

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery),
            Route("/authorize", authorize),
            Route("/token", token, methods=["POST"]),
            Route("/jwks", jwks),
            Route("/readyz", ready),
        ]
    )
