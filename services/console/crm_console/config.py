"""Console settings: environment variables prefixed CONSOLE_. The console holds no database and no key of
the suite's own (it cannot mint principal tokens): it calls the gateway with the signed-in user's JWT."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from crm_shared.auth import check_secret
from crm_shared.launcher import JWT_AUDIENCE, JWT_ISSUER
from crm_shared.topology import GATEWAY

from .permissions import DEFAULT_ROLE_WRITES, WRITE_SCOPES

# The file `make run` keeps its generated secrets in (crm_shared.launcher.dev_credentials).
LAUNCHER_CREDENTIALS = Path(".data/dev-credentials.json")
DEV_ROLES = ("admin", "analyst", "agent", "marketer")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CONSOLE_",
        extra="ignore",
        env_nested_delimiter="__",
        hide_input_in_errors=True,
        env_ignore_empty=True,  # compose passes unset settings as empty strings: the default then
    )

    service_name: str = "console"
    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    log_json: bool = True
    access_log: bool = True
    shutdown_delay_seconds: float = Field(default=0.0, ge=0, le=60)
    # Where the API is: every page reads through it with the user's token.
    gateway_url: str = f"http://127.0.0.1:{GATEWAY.port}"
    gateway_timeout: float = Field(default=10.0, gt=0)
    # Signs the session cookie (at least 32 bytes). Required outside development; in development a
    # random one per process is used when unset (sessions then end when the console restarts).
    session_secret: SecretStr = SecretStr("")
    session_hours: float = Field(default=8.0, gt=0, le=24)
    # Development sign-in: pick a role, get a one-hour JWT signed with the key the gateway trusts
    # (GATEWAY_JWT_SECRET), minted by the same code as `make token`. Refused in production. Unset: on in
    # development when a key is known: dev_jwt_secret, else the JWT secret in `make run`'s credentials file.
    dev_login: bool | None = None
    dev_jwt_secret: SecretStr = SecretStr("")
    dev_credentials_file: Path = LAUNCHER_CREDENTIALS
    # The audience and issuer of that token: the gateway's GATEWAY_JWT_AUDIENCE / GATEWAY_JWT_ISSUER (these
    # defaults are `make run`'s; compose and the k8s dev overlay set their own).
    dev_jwt_audience: str = Field(default=JWT_AUDIENCE, min_length=1)
    dev_jwt_issuer: str = Field(default=JWT_ISSUER, min_length=1)
    # Production sign-in: OpenID Connect (authorization code flow with PKCE, authlib). The ID provider's
    # access token must be a JWT the gateway accepts (GATEWAY_JWKS_URL, audience, issuer and a `roles`
    # claim): the console forwards it as is.
    oidc_issuer: str | None = None  # e.g. https://login.example.com/realms/crm (its discovery document)
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr = SecretStr("")
    oidc_scopes: str = "openid profile email"
    # The console's public base URL (the OIDC redirect URI is built from it); unset: from the request.
    public_url: str | None = None
    # Which write scopes each role holds (JSON: {"agent": ["customers:write", ...]}): the console shows a
    # form only to roles that may send it. Keep it as the gateway's GATEWAY_ROLE_SCOPES (default: alike).
    role_writes: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_ROLE_WRITES))

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.session_secret.get_secret_value():
            check_secret("CONSOLE_SESSION_SECRET", self.session_secret.get_secret_value())
        elif self.environment != "development":
            check_secret("CONSOLE_SESSION_SECRET", None)
        if self.environment == "production" and (self.dev_login or self.dev_jwt_secret.get_secret_value()):
            raise ValueError("CONSOLE_DEV_LOGIN and CONSOLE_DEV_JWT_SECRET are for development: not in production")
        if self.dev_jwt_secret.get_secret_value():
            check_secret("CONSOLE_DEV_JWT_SECRET", self.dev_jwt_secret.get_secret_value())
        for role, scopes in self.role_writes.items():
            if unknown := sorted(set(scopes) - set(WRITE_SCOPES)):
                raise ValueError(f"CONSOLE_ROLE_WRITES: role {role}: {unknown} (known: {', '.join(WRITE_SCOPES)})")
        if self.oidc_issuer and not self.oidc_client_id:
            raise ValueError("CONSOLE_OIDC_CLIENT_ID is needed with CONSOLE_OIDC_ISSUER")
        return self

    def cookie_key(self) -> str:
        return self.session_secret.get_secret_value() or secrets.token_urlsafe(32)

    def dev_signing_key(self) -> str | None:
        """The key the development sign-in signs with, or None when it is off."""
        if self.environment == "production" or self.dev_login is False:
            return None
        key = self.dev_jwt_secret.get_secret_value()
        if not key and self.environment == "development" and self.dev_credentials_file.is_file():
            key = str(json.loads(self.dev_credentials_file.read_text()).get("jwt_secret", ""))
        return key or None

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)
