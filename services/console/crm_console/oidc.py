"""Production sign-in: OpenID Connect, authorization code flow with PKCE (authlib). The provider's access
token is what the console then sends to the gateway, which verifies it against the same provider's keys
(GATEWAY_JWKS_URL, GATEWAY_JWT_ISSUER, GATEWAY_JWT_AUDIENCE; roles in its `roles` claim)."""

from __future__ import annotations

from typing import Any

from authlib.integrations.starlette_client import OAuth  # type: ignore[import-untyped]

from .config import Settings


def oidc_client(settings: Settings) -> Any | None:
    """The provider's client, its endpoints read from the issuer's discovery document on first use."""
    if not settings.oidc_enabled:
        return None
    oauth = OAuth()
    assert settings.oidc_issuer is not None
    oauth.register(
        "idp",
        server_metadata_url=f"{settings.oidc_issuer.rstrip('/')}/.well-known/openid-configuration",
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value() or None,
        client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256"},
    )
    return oauth.create_client("idp")
